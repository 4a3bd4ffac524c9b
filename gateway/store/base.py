"""What the ledger needs from a store. Implementations: `sqlite.py` (default); PostgreSQL next.

Writes are synchronous and called from the ledger's single writer thread; a store never updates
or deletes an entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LedgerRow:
    seq: int
    body: bytes
    entry_hash: str
    leaf: bytes
    kind: str
    workflow: str | None
    principal: str | None
    tool: str | None
    correlation: str | None
    time: str

    def values(self) -> tuple[object, ...]:
        """The row's columns in the order of `COLUMNS`, as both stores insert them."""
        return (
            self.seq,
            self.body,
            self.entry_hash,
            self.leaf,
            self.kind,
            self.workflow,
            self.principal,
            self.tool,
            self.correlation,
            self.time,
        )


@dataclass(frozen=True, slots=True)
class JournalCheckpoint:
    """A signed checkpoint as the journal holds it."""

    size: int
    note: str


@dataclass(slots=True)
class JournalContents:
    """What one scan of a journal found: the current generation's records and checkpoints."""

    rows: list[LedgerRow] = field(default_factory=list)
    checkpoints: list[JournalCheckpoint] = field(default_factory=list)
    end: int = 0
    """The offset just past the last frame read."""

    @property
    def newest_checkpoint(self) -> JournalCheckpoint | None:
        return max(self.checkpoints, key=lambda c: c.size, default=None)


COLUMNS = "seq, body, entry_hash, leaf, kind, workflow, principal, tool, correlation, time"
"""The ledger table's columns, in `LedgerRow.values()` order."""
FILTERS = frozenset({"kind", "workflow", "principal", "tool", "correlation"})
"""The columns rows can be looked up by."""


class LedgerStore(Protocol):
    def append(self, rows: Sequence[LedgerRow]) -> None:
        """Write the rows in one transaction and make them durable (fsync) before returning."""

    def settle(self) -> None:
        """Finish what `append` left for after the callers were woken (SQLite: index the rows)."""

    def tail(self) -> LedgerRow | None: ...

    def leaves(self) -> list[bytes]:
        """Every Merkle leaf hash in order."""

    def rows(self, *, start: int = 1, **filters: str | None) -> Iterator[LedgerRow]: ...

    def add_checkpoint(self, size: int, note: str, key_id: str) -> None: ...

    def checkpoints(self) -> list[tuple[int, str, str]]:
        """(size, note, key id), oldest first."""

    def journal(self) -> JournalContents | None:
        """The durable copy beside the index, if the store keeps one (SQLite's journal)."""

    def newest_journal_checkpoint(self) -> str | None:
        """The newest signed checkpoint kept apart from the index (the writer's journal)."""

    def close(self) -> None: ...
