"""What may be stored: masked paths become salted digests, large results become digest and size.

The salt is a per-deployment secret (`<state>/keys/mask.salt`, 0600), so a digest proves a value
to someone who knows it but reveals nothing to a reader of the ledger.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gateway.ledger.entry import canonical_json


class Masker:
    def __init__(self, salt: bytes, max_result_bytes: int) -> None:
        self._salt = salt
        self._max = max_result_bytes

    @classmethod
    def for_state_dir(cls, state_dir: Path, max_result_bytes: int) -> Masker:
        path = state_dir / "keys" / "mask.salt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        return cls(path.read_bytes(), max_result_bytes)

    def digest(self, value: Any) -> str:
        return "hmac-sha256:" + hmac.new(self._salt, canonical_json(value), hashlib.sha256).hexdigest()

    def mask(self, root: str, value: Any, paths: Iterable[str]) -> Any:
        """`value` with every `root.path` in `paths` replaced by {"masked": digest}."""
        masked = value
        for path in paths:
            head, _, rest = path.partition(".")
            if head != root or not rest:
                continue
            if masked is value:
                masked = copy.deepcopy(value)
            masked = self._replace(masked, rest.split("."))
        return masked

    def _replace(self, value: Any, parts: list[str]) -> Any:
        if not parts:
            return {"masked": self.digest(value)}
        if isinstance(value, dict) and parts[0] in value:
            value[parts[0]] = self._replace(value[parts[0]], parts[1:])
        elif isinstance(value, list) and parts[0].isdigit() and int(parts[0]) < len(value):
            value[int(parts[0])] = self._replace(value[int(parts[0])], parts[1:])
        return value

    def limit(self, value: Any) -> Any:
        """The value, or its digest and size when its canonical form is over the limit."""
        canonical = canonical_json(value)
        if len(canonical) <= self._max:
            return value
        return {
            "omitted": "larger than ledger.max_result_bytes",
            "size": len(canonical),
            "sha256": hashlib.sha256(canonical).hexdigest(),
        }
