"""The ledger's witnesses: each new checkpoint is offered to every `[[ledger.witnesses]]` entry.

This is the `Cosigners` port of `gateway.ledger.ledger`: the composition root hands one to the
ledger, so the ledger never imports this package. A witness that refuses a checkpoint as
inconsistent with what it cosigned before (409, 422) is a sign of a rewrite and is logged as an
error; one that cannot be reached is a warning. What it cosigned is remembered, so the next push
proves consistency from there (c2sp.org/tlog-witness).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from gateway.config import WitnessConfig
from gateway.ledger.note import parse
from gateway.witness.client import Cosigned, PushResult, push, push_blocking, with_cosignatures

logger = logging.getLogger(__name__)

PUSH_TIMEOUT = 10.0
"""Seconds a periodic push waits for each witness."""
STOP_TIMEOUT = 5.0
"""Seconds the push of the last checkpoint, at stop, waits for each witness (15 s in all)."""


class Witnesses:
    def __init__(self, witnesses: Sequence[WitnessConfig]) -> None:
        self.witnesses = list(witnesses)
        self._witnessed: dict[str, int] = {}
        """The size each witness (by verifier key) last cosigned."""

    async def offer(self, note: str, leaves: Sequence[bytes]) -> str | None:
        """The note with the cosignatures obtained, or None when no witness cosigned it."""
        size = parse(note)[0].size
        results = await push(note, leaves[:size], self.witnesses, old_sizes=self._witnessed, timeout=PUSH_TIMEOUT)
        return self._kept(note, size, results)

    def offer_blocking(self, note: str, leaves: Sequence[bytes]) -> str | None:
        """`offer` at stop, from a thread of its own (the caller may be inside an event loop)."""
        size = parse(note)[0].size
        found: list[PushResult] = []
        worker = threading.Thread(
            target=lambda: found.extend(
                push_blocking(note, leaves[:size], self.witnesses, old_sizes=self._witnessed, timeout=STOP_TIMEOUT)
            ),
            daemon=True,
        )
        worker.start()
        worker.join(timeout=3 * STOP_TIMEOUT)
        if not found:
            logger.warning("the last checkpoint (size %d) was not cosigned before the gateway stopped", size)
            return None
        return self._kept(note, size, found)

    def _kept(self, note: str, size: int, results: Sequence[PushResult]) -> str | None:
        for result in results:
            if isinstance(result, Cosigned):
                self._witnessed[result.witness.verifier_key] = result.size
            elif result.status in (409, 422):
                logger.error(
                    "witness %s refused checkpoint size %d: %s (was the ledger rewritten?)",
                    result.witness.url,
                    size,
                    result.reason,
                )
            else:
                logger.warning(
                    "witness %s did not cosign checkpoint size %d: %s", result.witness.url, size, result.reason
                )
        if any(isinstance(result, Cosigned) for result in results):
            return with_cosignatures(note, results)
        return None
