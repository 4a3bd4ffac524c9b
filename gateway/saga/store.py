"""Durable sagas: steps, checkpoints and workflow status in SQLite (`<state>/saga.db`)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.errors import NotYoursError, UnknownWorkflowError
from gateway.saga.model import Checkpoint, Owner, Scope, Step, StepStatus, WorkflowStatus
from gateway.store.connection import open_durable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS steps (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, workflow TEXT NOT NULL, status TEXT NOT NULL,
    idempotency_key TEXT, document TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS steps_workflow ON steps (workflow, seq);
CREATE UNIQUE INDEX IF NOT EXISTS steps_key ON steps (workflow, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, workflow TEXT NOT NULL, document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workflows (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT, rollback TEXT);
CREATE TABLE IF NOT EXISTS principals (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, reason TEXT);
CREATE TABLE IF NOT EXISTS counters (
    kind TEXT NOT NULL, id TEXT NOT NULL, steps INTEGER NOT NULL, mutations INTEGER NOT NULL,
    PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS budget_resources (
    kind TEXT NOT NULL, id TEXT NOT NULL, resource TEXT NOT NULL, PRIMARY KEY (kind, id, resource));
CREATE TABLE IF NOT EXISTS budget_sums (
    kind TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, total REAL NOT NULL, PRIMARY KEY (kind, id, name));
"""
_COLUMNS = {"owner": "TEXT", "owner_roles": "TEXT"}
"""Columns added to `workflows` after its first release (added in place on open)."""


class SagaStore:
    def __init__(self, path: Path) -> None:
        self._db = open_durable(path, _SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(workflows)")}
        for column, kind in _COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE workflows ADD COLUMN {column} {kind}")
        self._statuses: dict[str, tuple[WorkflowStatus, str | None]] = {}
        self._owners: dict[str, Owner] = {}
        self._principals: dict[str, tuple[WorkflowStatus, str | None]] = {}
        self._quarantined: dict[str, set[str]] = {}
        """owner → its quarantined workflows, for the owners read so far."""
        self._lock = threading.Lock()

    def add_step(self, step: Step) -> Step:
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO steps (workflow, status, idempotency_key, document) VALUES (?, ?, ?, '')",
                (step.workflow, step.status.value, step.idempotency_key),
            )
            stored = step.model_copy(update={"seq": int(cursor.lastrowid or 0)})
            self._db.execute("UPDATE steps SET document = ? WHERE seq = ?", (stored.model_dump_json(), stored.seq))
        return stored

    def by_key(self, workflow: str, key: str) -> Step | None:
        with self._lock:
            row = self._db.execute(
                "SELECT document FROM steps WHERE workflow = ? AND idempotency_key = ?", (workflow, key)
            ).fetchone()
        return Step.model_validate_json(row[0]) if row and row[0] else None

    def update_step(self, step: Step) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE steps SET status = ?, document = ? WHERE seq = ?",
                (step.status.value, step.model_dump_json(), step.seq),
            )

    def steps(self, workflow: str) -> list[Step]:
        with self._lock:
            rows = self._db.execute("SELECT document FROM steps WHERE workflow = ? ORDER BY seq", (workflow,))
            return [Step.model_validate_json(r[0]) for r in rows.fetchall() if r[0]]

    def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO checkpoints (workflow, document) VALUES (?, ?)",
                (checkpoint.workflow, checkpoint.model_dump_json()),
            )

    def checkpoints(self, workflow: str) -> list[Checkpoint]:
        with self._lock:
            rows = self._db.execute("SELECT document FROM checkpoints WHERE workflow = ? ORDER BY id", (workflow,))
            return [Checkpoint.model_validate_json(r[0]) for r in rows.fetchall()]

    def last_seq(self, workflow: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(seq) FROM steps WHERE workflow = ?", (workflow,)).fetchone()
        return int(row[0] or 0)

    def status(self, workflow: str) -> tuple[WorkflowStatus, str | None]:
        """Read on every call's policy input, so kept in memory once read; this store's own
        `set_status` is the only writer (operators change status through the running gateway)."""
        return self._read_status("workflows", self._statuses, workflow)

    def set_status(self, workflow: str, status: WorkflowStatus, reason: str | None) -> None:
        self._write_status("workflows", self._statuses, workflow, status, reason)
        owner = self.owner(workflow)
        if owner is not None and owner.id in self._quarantined:
            held = self._quarantined[owner.id]
            (held.add if status is WorkflowStatus.QUARANTINED else held.discard)(workflow)

    # -- ownership ---------------------------------------------------------------------------

    def owner(self, workflow: str) -> Owner | None:
        """The principal that owns `workflow`: the first one to use it (kept in memory once read)."""
        known = self._owners.get(workflow)
        if known is not None:
            return known
        with self._lock:
            row = self._db.execute("SELECT owner, owner_roles FROM workflows WHERE id = ?", (workflow,)).fetchone()
        if row is None or row[0] is None:
            return None
        self._owners[workflow] = Owner(row[0], frozenset(json.loads(row[1] or "[]")))
        return self._owners[workflow]

    def claim(self, workflow: str, principal: str, roles: frozenset[str]) -> Owner:
        """Make `principal` the owner of `workflow` unless it has one; the owner either way."""
        known = self.owner(workflow)
        if known is not None:
            return known
        with self._lock:
            self._db.execute(
                "INSERT INTO workflows (id, status, owner, owner_roles) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET owner = COALESCE(workflows.owner, excluded.owner), "
                "owner_roles = COALESCE(workflows.owner_roles, excluded.owner_roles)",
                (workflow, WorkflowStatus.ACTIVE.value, principal, json.dumps(sorted(roles))),
            )
        owner = self.owner(workflow)
        assert owner is not None
        return owner

    def authorize(self, workflow: str, principal: str, roles: frozenset[str], shared: frozenset[str]) -> None:
        """Claim `workflow` for `principal` if it is new; NotYoursError if it may not act on it."""
        owner = self.claim(workflow, principal, roles)
        if not owner.admits(principal, roles, shared):
            raise NotYoursError(f"workflow {workflow!r} belongs to another principal; {principal} cannot act on it")

    def quarantined_of(self, principal: str) -> list[str]:
        """The workflows `principal` owns that are quarantined."""
        held = self._quarantined.get(principal)
        if held is None:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id FROM workflows WHERE owner = ? AND status = ?",
                    (principal, WorkflowStatus.QUARANTINED.value),
                ).fetchall()
            held = self._quarantined[principal] = {row[0] for row in rows}
        return sorted(held)

    def principal_status(self, principal: str) -> tuple[WorkflowStatus, str | None]:
        """Whether an operator quarantined the principal itself (all its calls, any workflow)."""
        return self._read_status("principals", self._principals, principal)

    def set_principal_status(self, principal: str, status: WorkflowStatus, reason: str | None) -> None:
        self._write_status("principals", self._principals, principal, status, reason)

    def _read_status(
        self, table: str, cache: dict[str, tuple[WorkflowStatus, str | None]], key: str
    ) -> tuple[WorkflowStatus, str | None]:
        known = cache.get(key)
        if known is not None:
            return known
        with self._lock:
            row = self._db.execute(f"SELECT status, reason FROM {table} WHERE id = ?", (key,)).fetchone()
        known = (WorkflowStatus(row[0]), row[1]) if row else (WorkflowStatus.ACTIVE, None)
        cache[key] = known
        return known

    def _write_status(
        self,
        table: str,
        cache: dict[str, tuple[WorkflowStatus, str | None]],
        key: str,
        status: WorkflowStatus,
        reason: str | None,
    ) -> None:
        cache[key] = (status, reason)
        with self._lock:
            self._db.execute(
                f"INSERT INTO {table} (id, status, reason) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET status = excluded.status, reason = excluded.reason",
                (key, status.value, reason),
            )

    def all_quarantined(self, limit: int = 200) -> list[tuple[str, str, str | None, str | None]]:
        """(kind, id, reason, owner) of quarantined workflows and agents, for the status view."""
        quarantined = WorkflowStatus.QUARANTINED.value
        with self._lock:
            workflows = self._db.execute(
                "SELECT id, reason, owner FROM workflows WHERE status = ? ORDER BY id LIMIT ?", (quarantined, limit)
            ).fetchall()
            agents = self._db.execute(
                "SELECT id, reason FROM principals WHERE status = ? ORDER BY id LIMIT ?", (quarantined, limit)
            ).fetchall()
        return [("agent", a, reason, None) for a, reason in agents] + [
            ("workflow", w, reason, owner) for w, reason, owner in workflows
        ]

    def known(self, workflow: str) -> bool:
        """Whether anything was ever recorded of `workflow` (a status, an owner, a step)."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM workflows WHERE id = ?", (workflow,)).fetchone()
            step = row or self._db.execute("SELECT 1 FROM steps WHERE workflow = ? LIMIT 1", (workflow,)).fetchone()
        return step is not None

    def counts(self, kind: str, key: str) -> tuple[int, int]:
        """(steps, mutations) counted for a workflow or a principal (`kind`), across restarts."""
        with self._lock:
            row = self._db.execute("SELECT steps, mutations FROM counters WHERE kind = ? AND id = ?", (kind, key))
            found = row.fetchone()
        return (int(found[0]), int(found[1])) if found else (0, 0)

    def save_counts(self, kind: str, key: str, steps: int, mutations: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO counters (kind, id, steps, mutations) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET steps = excluded.steps, mutations = excluded.mutations",
                (kind, key, steps, mutations),
            )

    def budget_tally(self, kind: str, key: str) -> tuple[set[str], dict[str, float]]:
        """The resource keys touched and the sums moved by a workflow or principal (`kind`), across
        restarts (`gateway.guards.budgets`)."""
        with self._lock:
            keys = self._db.execute("SELECT resource FROM budget_resources WHERE kind = ? AND id = ?", (kind, key))
            resources = {row[0] for row in keys.fetchall()}
            sums = self._db.execute("SELECT name, total FROM budget_sums WHERE kind = ? AND id = ?", (kind, key))
            totals = {row[0]: float(row[1]) for row in sums.fetchall()}
        return resources, totals

    def save_budget(self, kind: str, key: str, resources: Sequence[str], sums: Mapping[str, float]) -> None:
        """Add newly touched resource keys and set the new totals, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO budget_resources (kind, id, resource) VALUES (?, ?, ?)",
                    [(kind, key, resource) for resource in resources],
                )
                self._db.executemany(
                    "INSERT INTO budget_sums (kind, id, name, total) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (kind, id, name) DO UPDATE SET total = excluded.total",
                    [(kind, key, name, total) for name, total in sums.items()],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def require(self, workflow: str) -> None:
        """UnknownWorkflowError unless something was recorded of `workflow`."""
        if not self.known(workflow):
            raise UnknownWorkflowError(f"no workflow {workflow!r}: nothing was ever recorded of it")

    def principal_known(self, principal: str) -> bool:
        """Whether `principal` owns a workflow or an operator ever quarantined or released it."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM principals WHERE id = ? UNION ALL SELECT 1 FROM workflows WHERE owner = ? LIMIT 1",
                (principal, principal),
            ).fetchone()
        return row is not None

    def begin_rollback(self, workflow: str, scope: Scope, selection: dict[str, Any]) -> None:
        """Record, durably, that a rollback of `workflow` runs: a crash between two of its steps
        (none of them half-compensated) must not end it silently."""
        status = self.status(workflow)[0]
        with self._lock:
            self._db.execute(
                "INSERT INTO workflows (id, status, rollback) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET rollback = excluded.rollback",
                (workflow, status.value, json.dumps({"scope": scope, "selection": selection})),
            )

    def end_rollback(self, workflow: str) -> None:
        with self._lock:
            self._db.execute("UPDATE workflows SET rollback = NULL WHERE id = ?", (workflow,))

    def in_flight_rollbacks(self) -> list[tuple[str, Scope, dict[str, Any]]]:
        """(workflow, scope, selection) of the rollbacks a stop interrupted: begun and not ended, or
        with a step left half-compensated."""
        with self._lock:
            begun = self._db.execute("SELECT id, rollback FROM workflows WHERE rollback IS NOT NULL").fetchall()
            half = self._db.execute(
                "SELECT DISTINCT workflow FROM steps WHERE status = ?", (StepStatus.COMPENSATING.value,)
            ).fetchall()
        found = {workflow: json.loads(rollback) for workflow, rollback in begun}
        for (workflow,) in half:
            found.setdefault(workflow, {"scope": "all", "selection": {}})
        return [(workflow, run["scope"], run["selection"]) for workflow, run in found.items()]
