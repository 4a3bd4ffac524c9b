"""What may be stored or shown: secrets become salted digests, or sealed where they must come back.

Mask paths come from the decision's `obligations.mask` (the default policy builds them from
`data.rollgate.secrets`). A path is `<root>.<segment>...`: the root is `args` (the call's
arguments) or `result` (a tool result's structured content, and JSON text blocks); a segment is a
key or list index, `*` for any one key, and `**` for any depth (zero or more keys). Keys compare
without case, `_` and `-`, so `args.**.api_key` also masks `apiKey` and `API-KEY`.

A masked value is `{"masked": "hmac-sha256:…"}` (the salt is a per-deployment secret, so a digest
proves a value to someone who knows it but reveals nothing to a reader). Wherever else the same
value appears in a stored string (a text block, an error message, a rollback plan) it becomes
`[masked]`. Stores that must give the original back (an approval ticket's arguments, a saga step's
compensation) keep it sealed with AES-GCM under `<state>/keys/seal.key`, next to the masked form.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import SealError
from gateway.ledger.entry import canonical_json

SCRUBBED = "[masked]"
_MIN_SECRET = 4
"""Shorter values are not searched for in text: a 1-3 character 'secret' would mask ordinary words."""
_SEALED = "sealed"
_SEAL_VERSION = "v1:"


def _norm(key: str) -> str:
    return key.lower().replace("_", "").replace("-", "")


@dataclass(frozen=True, slots=True)
class _Rules:
    """The mask paths of one root, compiled: names masked at any depth, and other paths."""

    anywhere: frozenset[str] = frozenset()
    paths: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def compile(cls, root: str, paths: Iterable[str]) -> _Rules:
        anywhere: set[str] = set()
        others: list[tuple[str, ...]] = []
        for path in paths:
            head, _, rest = path.partition(".")
            if head != root or not rest:
                continue
            parts = tuple(p if p in ("*", "**") else _norm(p) for p in rest.split("."))
            if len(parts) == 2 and parts[0] == "**" and parts[1] not in ("*", "**"):
                anywhere.add(parts[1])
            else:
                others.append(parts)
        return cls(frozenset(anywhere), tuple(others))

    def __bool__(self) -> bool:
        return bool(self.anywhere or self.paths)


def _advance(states: list[tuple[tuple[str, ...], int]], key: str) -> tuple[list[tuple[tuple[str, ...], int]], bool]:
    """The path states after stepping into `key`, and whether one of them is complete (a match)."""
    following: list[tuple[tuple[str, ...], int]] = []
    matched = False
    for parts, index in states:
        candidates = [index]
        while candidates:
            at = candidates.pop()
            if at >= len(parts):
                continue
            segment = parts[at]
            if segment == "**":
                following.append((parts, at))  # ** swallows this key
                candidates.append(at + 1)  # ... or matches nothing
                continue
            if segment == "*" or segment == key:
                if at + 1 == len(parts):
                    matched = True
                else:
                    following.append((parts, at + 1))
    return following, matched


def _matches(value: Any, rules: _Rules, states: list[tuple[tuple[str, ...], int]]) -> bool:
    """Whether any path of `rules` names something inside `value`."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        name = _norm(str(key))
        if isinstance(key, str) and name in rules.anywhere:
            return True
        following, matched = _advance(states, name) if states else ([], False)
        if matched or (isinstance(child, dict | list) and _matches(child, rules, following)):
            return True
    return False


@dataclass(slots=True)
class Redaction:
    """The privacy rules of one call, and the secret values seen in it so far."""

    masker: Masker
    args_rules: _Rules
    result_rules: _Rules
    secrets: set[str] = field(default_factory=set)

    def arguments(self, arguments: Any) -> Any:
        """The arguments as they may be stored: masked paths digested, known secrets scrubbed."""
        return self.data(self._masked(arguments, self.args_rules))

    def result(self, result: Any) -> Any:
        """A tool result as it may be stored: masks on its structured content and JSON text, then
        every secret seen in this call (arguments or result) scrubbed from its strings."""
        if not isinstance(result, dict):
            return self.data(result)
        stored = dict(result)
        if self.result_rules and stored.get("structuredContent") is not None:
            stored["structuredContent"] = self._masked(stored["structuredContent"], self.result_rules)
        if self.result_rules and isinstance(stored.get("content"), list):
            stored["content"] = [self._text_block(block) for block in stored["content"]]
        return self.data(stored)

    def image(self, value: Any) -> Any:
        """Data read from a tool (a before-image, a verification read) as it may be stored."""
        return self.data(self._masked(value, self.result_rules))

    def data(self, value: Any) -> Any:
        """Any other document of this call, with the secrets seen so far scrubbed from its strings."""
        if not self.secrets:
            return value
        return self._scrub(value)

    @property
    def found(self) -> bool:
        return bool(self.secrets)

    def _text_block(self, block: Any) -> Any:
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            return block
        text: str = block["text"]
        if not text.lstrip().startswith(("{", "[")):
            return block
        try:
            parsed = json.loads(text)
        except ValueError:
            return block
        masked = self._masked(parsed, self.result_rules)
        return block if masked is parsed else {**block, "text": json.dumps(masked)}

    def _masked(self, value: Any, rules: _Rules) -> Any:
        if not rules or not isinstance(value, dict | list):
            return value
        states = [(p, 0) for p in rules.paths]
        if not _matches(value, rules, states):
            return value  # nothing secret here: no copy
        return self._walk(copy.deepcopy(value), rules, states)

    def _walk(self, value: Any, rules: _Rules, states: list[tuple[tuple[str, ...], int]]) -> Any:
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            return value
        for key, child in items:
            name = _norm(str(key))
            following, matched = _advance(states, name) if states else ([], False)
            if matched or (isinstance(key, str) and name in rules.anywhere):
                self._remember(child)
                value[key] = {"masked": self.masker.digest(child)}
            elif isinstance(child, dict | list):
                value[key] = self._walk(child, rules, following)
        return value

    def _remember(self, value: Any) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, str | int | float):
            text = str(value)
            if len(text) >= _MIN_SECRET:
                self.secrets.add(text)
        elif isinstance(value, dict):
            for child in value.values():
                self._remember(child)
        elif isinstance(value, list):
            for child in value:
                self._remember(child)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, SCRUBBED)
            return value
        if isinstance(value, dict):
            return {key: self._scrub(child) for key, child in value.items()}
        if isinstance(value, list):
            return [self._scrub(child) for child in value]
        if isinstance(value, int | float) and not isinstance(value, bool) and str(value) in self.secrets:
            return SCRUBBED
        return value


class Masker:
    def __init__(self, salt: bytes, max_result_bytes: int, seal_key: bytes | None = None) -> None:
        self._salt = salt
        self._max = max_result_bytes
        self._aead = AESGCM(seal_key) if seal_key is not None else None
        self._compiled: dict[tuple[str, ...], tuple[_Rules, _Rules]] = {}

    @classmethod
    def for_state_dir(cls, state_dir: Path, max_result_bytes: int) -> Masker:
        keys = state_dir / "keys"
        return cls(_secret_file(keys / "mask.salt"), max_result_bytes, _secret_file(keys / "seal.key"))

    def digest(self, value: Any) -> str:
        return "hmac-sha256:" + hmac.new(self._salt, canonical_json(value), hashlib.sha256).hexdigest()

    def redaction(self, paths: Iterable[str]) -> Redaction:
        key = tuple(paths)
        rules = self._compiled.get(key)
        if rules is None:  # the same few mask lists come with every call: compile each once
            rules = self._compiled[key] = (_Rules.compile("args", key), _Rules.compile("result", key))
            if len(self._compiled) > 256:
                self._compiled.pop(next(iter(self._compiled)))
        return Redaction(self, *rules)

    def mask(self, root: str, value: Any, paths: Iterable[str]) -> Any:
        """`value` with every `root.path` in `paths` replaced by {"masked": digest} (one-off use)."""
        redaction = self.redaction(paths)
        return redaction.arguments(value) if root == "args" else redaction.result(value)

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

    # -- sealing: secrets a store must give back -------------------------------------------------

    def seal(self, value: Any) -> dict[str, str]:
        """`{"sealed": "v1:…"}`: the value encrypted (AES-GCM, a fresh nonce) under the state key."""
        if self._aead is None:
            raise RuntimeError("this masker has no sealing key")
        nonce = os.urandom(12)
        box = self._aead.encrypt(nonce, json.dumps(value).encode(), b"rollgate-seal")
        return {_SEALED: _SEAL_VERSION + base64.b64encode(nonce + box).decode()}

    def seal_if(self, redaction: Redaction, value: Any) -> Any:
        """`value` sealed when the call had secrets, else `value` as it is."""
        return self.seal(value) if redaction.found and self._aead is not None else value

    def unseal(self, value: Any) -> Any:
        """The original of a sealed value; anything else is returned as it is."""
        if not is_sealed(value):
            return value
        if self._aead is None:
            raise SealError("a sealed value cannot be opened without the state directory's seal key")
        raw = base64.b64decode(value[_SEALED].removeprefix(_SEAL_VERSION))
        try:
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], b"rollgate-seal"))
        except InvalidTag:
            raise SealError("a sealed value does not open with this state directory's key (changed?)") from None


def is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_SEALED), str)


def shown(value: Any) -> Any:
    """A stored value as people may see it: a sealed value shows as `[sealed]`."""
    if is_sealed(value):
        return "[sealed]"
    if isinstance(value, dict):
        return {key: shown(child) for key, child in value.items()}
    if isinstance(value, list):
        return [shown(child) for child in value]
    return value


def _secret_file(path: Path) -> bytes:
    """32 random bytes kept in `path` (0600, in a 0700 folder), made on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()
