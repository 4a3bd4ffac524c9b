"""People's and agents' bearer tokens, checked in one place for the REST API and the CLI."""

from __future__ import annotations

from pathlib import Path

from gateway.config import hash_token, load_config
from gateway.models import Principal
from gateway.server.auth import ApproverTokens, TokenTable


def tokens(tmp_path: Path) -> ApproverTokens:
    path = tmp_path / "rollgate.toml"
    path.write_text(
        f'[[agents]]\nid = "bot"\nroles = ["agent"]\ntoken_sha256 = "{hash_token("rg_agent")}"\n'
        f'[[approvers]]\nid = "ada"\nroles = ["approver"]\ntoken_sha256 = "{hash_token("rg_person")}"\n'
    )
    return ApproverTokens(load_config(path))


def test_a_person_is_named_by_their_token(tmp_path: Path) -> None:
    assert tokens(tmp_path).resolve("Bearer rg_person") == Principal("ada", frozenset({"approver"}))


def test_an_agents_token_is_refused_where_a_person_must_act(tmp_path: Path) -> None:
    assert tokens(tmp_path).resolve("Bearer rg_agent") == 403


def test_no_token_an_unknown_one_or_another_scheme_is_unauthorized(tmp_path: Path) -> None:
    people = tokens(tmp_path)
    assert [people.resolve(h) for h in (None, "", "Bearer ", "Bearer rg_other", "Basic rg_person")] == [401] * 5


def test_the_agents_table_knows_agents_only(tmp_path: Path) -> None:
    tokens(tmp_path)
    agents = TokenTable(load_config(tmp_path / "rollgate.toml"))
    assert agents.principal_for("rg_agent") == Principal("bot", frozenset({"agent"}))
    assert agents.principal_for("rg_person") is None
