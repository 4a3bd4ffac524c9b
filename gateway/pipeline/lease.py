"""Resource leases: two workflows never mutate the same blast-radius key at once.

    LeaseSignal  (before decide)   renders the mutating call's lease keys from its manifest's
                 blast radius and arguments (`account:{args.from_account_id}` → `account:42`),
                 and tells policy whether another workflow holds one now (`input.signals.lease`).
    Lease        (after approve, before the intent is recorded)   takes the leases for as long
                 as the call runs, waiting up to the manifest's `lease.wait_seconds` (else
                 `[guards.leases]`) for another workflow's call to finish, or refusing at once
                 (`mode = "refuse"`); they are given back however the call ends (result, error,
                 cancellation). A call that cannot have them did not run, and its answer names the
                 key and says another workflow holds it: never whose, nor what it does (an agent
                 may not learn another's work).

After approval, so that a call held for people's approval holds no lease while it waits (its
approved execution runs the pipeline again and takes them then); before the intent, so that a
call that never got its lease is not recorded as sent. The before-image (snapshot stage, before
approval) of a call that had to wait is read again once it has the lease: the other workflow
may have changed it. Keys whose template needs the call's result (`account:{result.id}`) cannot
be known before it runs and take no lease. Compensations and approved calls always wait:
refusing one would escalate a rollback, or spend an approval, that a moment's wait lets finish.
Read-only calls take none.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from gateway.config import LeasesConfig
from gateway.errors import TemplateError
from gateway.guards.leases import Leases, Taken
from gateway.manifests import Reversibility, render
from gateway.manifests.templates import paths_in
from gateway.pipeline.call import Call, Proceed, Result
from gateway.pipeline.verdict import typed_output, verdict
from gateway.policy import Effect
from gateway.policy.document import LeaseSignal as LeaseDoc

logger = logging.getLogger(__name__)


class LeaseSignal:
    def __init__(self, leases: Leases, settings: LeasesConfig) -> None:
        self._leases = leases
        self._settings = settings

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        keys = lease_keys(call)
        if keys:
            assert call.manifest is not None
            spec = call.manifest.manifest.lease
            mode = (spec.mode if spec is not None else None) or self._settings.mode
            wait = spec.wait_seconds if spec is not None and spec.wait_seconds is not None else None
            if call.context.compensation or call.approval is not None:
                mode = "wait"
            other = self._leases.held_by_other(keys, call.context.workflow_id)
            call.signals["lease"] = LeaseDoc.model_construct(
                keys=keys,
                held_by_other=other is not None,
                key=other,
                mode=mode,
                wait_seconds=(self._settings.wait_seconds if wait is None else wait) if mode == "wait" else 0.0,
            )
        return await proceed(call)


Retake = Callable[[Call], Awaitable[Result | None]]
"""Reads a call's before-image again (`Snapshot.take`): its refusal when one is required and fails."""


class Lease:
    def __init__(self, leases: Leases, retake: Retake | None = None) -> None:
        self._leases = leases
        self._retake = retake

    async def __call__(self, call: Call, proceed: Proceed) -> Result:
        signal = call.signals.get("lease")
        decision = call.decision
        if not isinstance(signal, LeaseDoc) or decision is None or decision.effect is not Effect.ALLOW:
            return await proceed(call)  # nothing to lease, or nothing that will run
        holder = call.context.workflow_id
        taken = await self._leases.take(signal.keys, holder, signal.wait_seconds)
        if not taken.granted:
            return _refusal(call, taken)
        try:
            if taken.contended and call.snapshot is not None and self._retake is not None:
                refused = await self._retake(call)  # the other workflow may have changed it meanwhile
                if refused is not None:
                    return refused
            return await proceed(call)
        finally:
            self._leases.release(signal.keys, holder)


def lease_keys(call: Call) -> list[str]:
    """The blast-radius keys of a mutating call that its arguments determine."""
    resolved = call.manifest
    if resolved is None or resolved.manifest.reversibility is Reversibility.READ_ONLY:
        return []
    data = {"args": dict(call.context.arguments)}
    keys: list[str] = []
    for template in resolved.manifest.blast_radius:
        if any(path.split(".", 1)[0] != "args" for path in paths_in(template)):
            continue  # known only once the call has run
        try:
            keys.append(str(render(template, data)))
        except TemplateError as exc:
            logger.debug("lease key %s not rendered: %s", template, exc.message)
    return list(dict.fromkeys(keys))


def _refusal(call: Call, taken: Taken) -> Result:
    assert call.decision is not None
    call.refused_by = "lease"
    waited = f" after waiting {taken.waited_seconds:.3g} s" if taken.waited_seconds else ""
    reason = f"another workflow holds a lease on {taken.conflict}: it is changing it now"
    text = (
        f"Refused: {reason}. This call did not run{waited}; retry it once that call has finished, "
        f"or read {taken.conflict} again first (decision {call.decision.decision_id})."
    )
    document = {
        "effect": Effect.DENY.value,
        "reasons": [reason],
        "approvers": [],
        "decision_id": call.decision.decision_id,
        "lease": {"key": taken.conflict, "waited_seconds": taken.waited_seconds},
    }
    return verdict(text, document, typed=typed_output(call.definition))
