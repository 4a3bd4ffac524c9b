"""`rollgate token NAME [--role R] [--approver]`: a new bearer token and the entry that declares it."""

from __future__ import annotations

from gateway.config import hash_token, new_token


def token(identity: str, roles: list[str], *, approver: bool = False) -> int:
    made = new_token()
    print(f"token (give it to the {'approver' if approver else 'agent'}; it is not stored): {made}")
    print("\n[[approvers]]" if approver else "\n[[agents]]")
    print(f'id = "{identity}"')
    default = ["approver"] if approver else ["agent"]
    print(f"roles = {roles or default!r}".replace("'", '"'))
    print(f'token_sha256 = "{hash_token(made)}"')
    return 0
