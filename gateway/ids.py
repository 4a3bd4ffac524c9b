"""Identifiers of calls and decisions: unique, ordered within a process, and not secret.

`uuid4` reads the kernel's random source, a system call that releases the GIL, twice per call;
at 32 calls in flight the ledger's writer thread takes the GIL at each of those moments and the
event loop waits for it back. These ids need only be unique, so they are a random prefix per
process (64 bits from the kernel, once) and a counter, in the same 32 hex digits as a UUID.
Nothing may rely on them being unguessable: approval and task ids stay random (`secrets`).
"""

from __future__ import annotations

import itertools
import secrets

_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def new_id(kind: str) -> str:
    """`<kind>_<32 hex digits>`, never the same twice (across processes: 2^-64 per pair of starts)."""
    return f"{kind}_{_PREFIX}{next(_COUNTER):016x}"
