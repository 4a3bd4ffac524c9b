"""`rollgate ledger show`: the ledger as a plain-language timeline.

Who asked for what, what the policy said and why, what happened, and what it would take to undo it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gateway.store.base import LedgerRow


@dataclass(frozen=True)
class Moment:
    """One entry, told: its number, its time to the second, and what happened."""

    seq: int
    when: str
    sentence: str

    def line(self) -> str:
        return f"#{self.seq:<6} {self.when}  {self.sentence}"


def moment(row: LedgerRow) -> Moment:
    document = json.loads(row.body)
    data: dict[str, Any] = document["data"]
    return Moment(row.seq, document["time"][:19].replace("T", " "), _sentence(document["kind"], data))


def _sentence(kind: str, data: dict[str, Any]) -> str:
    who, tool = data.get("principal", "?"), data.get("tool") or data.get("requested_name", "?")
    where = f" (workflow {data.get('workflow')}" + (f", step {data['step']}" if data.get("step") else "") + ")"
    decision = data.get("decision") or {}
    said = f"policy said {decision.get('effect')}: {'; '.join(decision.get('reasons', []))}" if decision else ""
    if kind == "call.intent":
        manifest = data.get("manifest") or {}
        undo = _undo(manifest)
        return f"{who} asked to run {tool}{where} with {json.dumps(data.get('arguments'))}; {said}. {undo}"
    if kind == "call.held":
        answer = data.get("answer") or {}
        approval = data.get("approval_id") or answer.get("approval_id")
        state = answer.get("status") if "approval_id" in answer else "approved, and it ran"
        return f"{who}'s call to {tool}{where} is held for approval {approval} ({state}); {said}"
    if kind.startswith("approval."):
        return _approval_sentence(kind, data)
    if kind == "call.refused":
        reason = said or f"rejected: {data.get('error')}"
        return f"{who}'s call to {tool}{where} was not run; {reason}"
    if kind == "call.result":
        status = data.get("status")
        detail = f" — {data['error']}" if data.get("error") else ""
        took = f"{data.get('duration_ms')} ms (intent #{data.get('intent_seq')})"
        return f"{tool} for {who} finished: {status} in {took}{detail}"
    if kind == "call.outcome_unknown":
        return (
            f"OUTCOME UNKNOWN: {tool} for {who} (intent #{data.get('intent_seq')}): {data.get('reason')}; "
            "check the upstream before retrying"
        )
    if kind == "call.snapshot":
        seen = f"failed: {data['error']}" if data.get("error") else json.dumps(data.get("snapshot"))
        return f"before {tool} for {who}{where}, {data.get('read')} read the before-image: {seen}"
    if kind == "step.reconciled":
        found = "it had taken effect" if data.get("took_effect") else "it had not taken effect: nothing to undo"
        return f"step {data.get('step')} ({tool}) of unknown outcome{where} was read: {found}"
    if kind == "gateway.start":
        unknown = data.get("unknown_outcomes") or []
        extra = f"; {len(unknown)} call(s) with unknown outcome" if unknown else ""
        return f"gateway {data.get('version')} started (signing key {data.get('key_id')}){extra}"
    if kind == "gateway.stop":
        return "gateway stopped"
    if kind == "policy.reload":
        return (
            "policy loaded: " + ", ".join(data.get("modules", []))
            if data.get("ok")
            else f"policy NOT reloaded (last good policy kept): {data.get('error')}"
        )
    if kind == "key.rotated":
        return f"signing key {data.get('key_id')} {data.get('reason', 'rotated')}"
    if kind in _GUARD_KINDS:
        return _guard_sentence(kind, data)
    return f"{kind}: {json.dumps(data)}"


_GUARD_KINDS = frozenset(
    {"calls.stopped", "calls.resumed", "tool.definition_changed", "tool.definition_accepted", "operator.refused"}
)


def _guard_sentence(kind: str, data: dict[str, Any]) -> str:
    """The kill switch and pinned tool definitions, as an operator reads them."""
    whose = "every agent's calls" if data.get("all") else f"agent {data.get('principal')}'s calls"
    if kind == "calls.stopped":
        return f"STOPPED: {data.get('by')} stopped {whose}: {data.get('reason')}"
    if kind == "calls.resumed":
        return f"{data.get('by')} resumed {whose} (stopped by {data.get('stopped_by')})"
    if kind == "tool.definition_changed":
        changes = "; ".join(data.get("changes") or [])
        return (
            f"HELD: {data.get('tool')}'s definition changed ({changes}); its calls are held until an operator "
            f"accepts digest {str(data.get('digest'))[:19]}"
        )
    if kind == "tool.definition_accepted":
        return f"{data.get('by')} accepted the new definition of {data.get('tool')} ({str(data.get('digest'))[:19]})"
    who = f"agent {data['principal']}" if data.get("principal") else "a caller"
    return f"{who} was refused {data.get('action')} (HTTP {data.get('status')}): {data.get('reason')}"


def _approval_sentence(kind: str, data: dict[str, Any]) -> str:
    ref = f"approval {data.get('approval_id')} ({data.get('tool')} for {data.get('principal')})"
    if kind == "approval.requested":
        return f"{ref} requested: needs {'; '.join(data.get('awaiting', []))}"
    if kind == "approval.granted":
        comment = f': "{data["comment"]}"' if data.get("comment") else ""
        done = " — approved, the call will run" if data.get("complete") else ""
        return f"{data.get('approver')} approved {ref}{comment}{done}"
    if kind == "approval.denied":
        return f"{data.get('approver')} denied {ref}: {data.get('reason')}"
    if kind == "approval.expired":
        return f"{ref} expired without a decision; the call did not run"
    if kind == "approval.executed":
        return f"{ref} ran" + (" and the tool reported an error" if data.get("is_error") else "")
    if kind == "approval.failed":
        return f"{ref} was approved but failed: {data.get('error')}"
    return f"{ref}: {kind}"


def _undo(manifest: dict[str, Any]) -> str:
    reversibility = manifest.get("reversibility")
    if reversibility == "read_only":
        return "Nothing to undo (read-only)."
    if reversibility == "irreversible":
        return "It cannot be undone: a person must remediate it."
    if manifest.get("compensation"):
        return f"Undo: {manifest['compensation']}."
    return f"{reversibility}; no compensation declared."


def moments(rows: Iterable[LedgerRow], since: str | None = None, until: str | None = None) -> Iterator[Moment]:
    for row in rows:
        if since and row.time < since:
            continue
        if until and row.time > until:
            continue
        yield moment(row)


def timeline(rows: Iterable[LedgerRow], since: str | None = None, until: str | None = None) -> Iterator[str]:
    return (m.line() for m in moments(rows, since, until))
