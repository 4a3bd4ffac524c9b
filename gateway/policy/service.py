"""The policy decision point: input → engine → decision, with hot reload, always failing closed.

Each decision gets an id. Any failure (engine down, timeout, policy error, malformed output) is a
deny that says why; the gateway keeps serving.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

from gateway.errors import PolicyError
from gateway.ids import new_id
from gateway.policy.document import Decision, PolicyInput
from gateway.policy.engines import PolicyBundle, PolicyEngine, fingerprint
from gateway.policy.interpret import deny, interpret

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Evaluation:
    decision: Decision
    input: PolicyInput
    raw: object
    seconds: float


def short(exc: BaseException) -> str:
    """An engine error's first paragraph (regorus appends a native stack trace)."""
    return str(exc).split("\n\nStack backtrace", 1)[0].strip()


class PolicyService:
    def __init__(self, engine: PolicyEngine, directory: Path, query: str) -> None:
        self.engine = engine
        self.directory = directory
        self.query = query
        self.loaded: PolicyBundle | None = None
        self.last_error: str | None = None
        self._listeners: list[Callable[[dict[str, object]], Awaitable[None]]] = []

    def on_reload(self, listener: Callable[[dict[str, object]], Awaitable[None]]) -> None:
        """Called after every load attempt with {ok, modules, error, fingerprint}."""
        self._listeners.append(listener)

    async def load(self) -> None:
        """Load the policy files; on error keep the last good policy and remember the error."""
        try:
            bundle = PolicyBundle.read(self.directory)
            await self.engine.load(bundle)
        except (PolicyError, OSError) as exc:
            self.last_error = short(exc)
            logger.error("policy not (re)loaded, keeping the last good one: %s", self.last_error)
            await self._tell({"ok": False, "error": self.last_error, "directory": str(self.directory)})
            return
        self.loaded, self.last_error = bundle, None
        digest = hashlib.sha256(json.dumps([sorted(bundle.modules.items()), bundle.data], sort_keys=True).encode())
        await self._tell(
            {"ok": True, "modules": sorted(bundle.modules), "sha256": digest.hexdigest(), "engine": self.engine.name}
        )
        logger.info(
            "policy loaded: %d modules from %s (%s engine)", len(bundle.modules), self.directory, self.engine.name
        )

    async def watch(self, interval: float) -> None:
        """Reload whenever a policy or data file changes (polled: works on every filesystem)."""
        seen = fingerprint(self.directory)
        while True:
            await anyio.sleep(interval)
            current = fingerprint(self.directory)
            if current != seen:
                seen = current
                await self.load()

    async def _tell(self, outcome: dict[str, object]) -> None:
        for listener in self._listeners:
            await listener(outcome)

    async def aclose(self) -> None:
        close = getattr(self.engine, "aclose", None)
        if close is not None:
            await close()

    async def evaluate(self, policy_input: PolicyInput) -> Evaluation:
        decision_id = new_id("dec")
        started = time.perf_counter()
        raw: object = None
        if self.loaded is None:
            decision = deny(decision_id, f"no policy is loaded ({self.last_error or 'not started'}): denied")
        else:
            try:
                raw = await self.engine.evaluate(self.query, policy_input.model_dump_json())
                decision = interpret(raw, decision_id)
            except PolicyError as exc:
                logger.error("policy evaluation failed, denying: %s", short(exc))
                decision = deny(decision_id, f"policy evaluation failed: {short(exc)}")
        return Evaluation(decision, policy_input, raw, time.perf_counter() - started)
