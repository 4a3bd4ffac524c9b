"""Offline verification: hashes, chain, index columns, Merkle roots and checkpoint signatures.

Pure functions over rows and notes; the first problem raises `VerificationError` naming the entry
(and the checkpoint: its size and signing time) and what is wrong. Needs only the entries, the
public keys and, for a SQLite ledger, the journal: the database is checked against the journal's
records (the authoritative copy of what they cover), and every signed checkpoint found anywhere
(the database, the journal, the operator's copy) against the entries.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import NoteError, ProofError, VerificationError
from gateway.ledger.entry import GENESIS
from gateway.ledger.keys import KEY_NAME
from gateway.ledger.merkle import LEAF_PREFIX, consistency_proof, root, verify_consistency
from gateway.ledger.note import Checkpoint, key_hash, parse, verify
from gateway.store.base import JournalContents, LedgerRow


@dataclass(frozen=True, slots=True)
class Report:
    entries: int
    checkpoints: int
    root: bytes
    journal_entries: int = 0
    """Entries compared with the journal's copy (0: no journal, as with PostgreSQL)."""


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A signed checkpoint and where it was found (for the message that names it)."""

    note: str
    where: str = "the database"


def describe(checkpoint: Checkpoint) -> str:
    """How a message names a checkpoint: its size and when it was signed."""
    when = datetime.fromtimestamp(checkpoint.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if checkpoint.time else "?"
    return f"checkpoint (size {checkpoint.size}, signed {when})"


def with_journal(rows: Sequence[LedgerRow], journal: JournalContents | None) -> list[LedgerRow]:
    """The database's rows, checked against the journal's copy of the entries it holds, and
    followed by the journal's entries the database does not have yet (a running gateway indexes
    them a moment later; after a power loss, at its next start)."""
    rows = list(rows)
    if journal is None or not journal.rows:
        return rows
    first = journal.rows[0].seq
    by_seq = {row.seq: row for row in rows if row.seq >= first}
    tail = rows[-1].seq if rows else 0
    for copy in journal.rows:
        if copy.seq > tail:
            if copy.seq != tail + 1:
                raise VerificationError(
                    f"the database ends at entry {tail} but the journal goes on at entry {copy.seq}: "
                    f"entries {tail + 1}..{copy.seq - 1} are missing from both",
                    tail + 1,
                )
            rows.append(copy)
            tail = copy.seq
            continue
        stored = by_seq.get(copy.seq)
        if stored is None:
            raise VerificationError(f"entry {copy.seq} is in the journal but not in the database (deleted)", copy.seq)
        if stored != copy:
            what = "content" if stored.body != copy.body else "hash or index columns"
            raise VerificationError(
                f"entry {copy.seq}: the database's {what} differs from the journal's copy (rewritten)", copy.seq
            )
    return rows


def verify_rows(rows: Iterable[LedgerRow]) -> list[bytes]:
    """Check every entry in order; returns the Merkle leaf hashes."""
    leaves: list[bytes] = []
    expected_seq, prev = 1, GENESIS
    for row in rows:
        if row.seq != expected_seq:
            raise VerificationError(f"entry {expected_seq} is missing (found {row.seq} in its place)", expected_seq)
        body = row.body
        if hashlib.sha256(body).hexdigest() != row.entry_hash:
            raise VerificationError(f"entry {row.seq}: its content does not match its hash (edited)", row.seq)
        try:
            document = json.loads(body)
        except ValueError:
            raise VerificationError(f"entry {row.seq}: the body is not JSON", row.seq) from None
        if not isinstance(document, dict):
            raise VerificationError(f"entry {row.seq}: the body is JSON but not an entry (an object)", row.seq)
        if document.get("seq") != row.seq:
            raise VerificationError(f"entry {row.seq}: it claims to be entry {document.get('seq')} (moved)", row.seq)
        if document.get("prev") != prev:
            raise VerificationError(f"entry {row.seq}: it does not follow entry {row.seq - 1} (chain broken)", row.seq)
        _check_columns(row, document)
        leaf = hashlib.sha256(LEAF_PREFIX + body).digest()
        if leaf != row.leaf:
            raise VerificationError(f"entry {row.seq}: its stored Merkle leaf hash is wrong", row.seq)
        leaves.append(leaf)
        prev, expected_seq = row.entry_hash, expected_seq + 1
    return leaves


def _check_columns(row: LedgerRow, document: Mapping[str, object]) -> None:
    data = document.get("data") if isinstance(document.get("data"), dict) else {}
    assert isinstance(data, dict)
    derived = (
        document.get("kind"),
        data.get("workflow"),
        data.get("principal"),
        data.get("tool"),
        data.get("correlation_id"),
        document.get("time"),
    )
    stored = (row.kind, row.workflow, row.principal, row.tool, row.correlation, row.time)
    if derived != stored:
        raise VerificationError(f"entry {row.seq}: its index columns disagree with its signed content", row.seq)


def verify_checkpoints(
    leaves: list[bytes], notes: Iterable[str | SignedHead], keys: Mapping[str, Ed25519PublicKey]
) -> int:
    """Each checkpoint: a known key's valid signature, a root equal to the entries' root at its size.

    A failure names the checkpoint and, where the others tell, the entries that changed: the
    newest checkpoint that still matches bounds them from below."""
    heads = [note if isinstance(note, SignedHead) else SignedHead(note) for note in notes]
    signed = [(head, _signed(head.note, keys, head.where)) for head in heads]
    matching = [c.size for _, c in signed if c.size <= len(leaves) and root(leaves[: c.size]) == c.root]
    for head, checkpoint in signed:
        name = f"{describe(checkpoint)} in {head.where}"
        if checkpoint.size > len(leaves):
            raise VerificationError(
                f"{name} was signed, but the ledger ends at entry {len(leaves)}: "
                f"entries {len(leaves) + 1}..{checkpoint.size} are missing (tail cut){_since(matching, checkpoint)}",
                len(leaves) + 1,
            )
        if root(leaves[: checkpoint.size]) != checkpoint.root:
            raise VerificationError(
                f"{name}: the entries no longer have the signed root{_since(matching, checkpoint)}",
                _first_changed(matching, checkpoint),
            )
    return len(signed)


def _since(matching: list[int], checkpoint: Checkpoint) -> str:
    below = [size for size in matching if size < checkpoint.size]
    if not below:
        return f"; an entry among 1..{checkpoint.size} was changed, deleted or inserted"
    return (
        f"; entries 1..{max(below)} still match an earlier checkpoint, so the change is among "
        f"entries {max(below) + 1}..{checkpoint.size}"
    )


def _first_changed(matching: list[int], checkpoint: Checkpoint) -> int | None:
    below = [size for size in matching if size < checkpoint.size]
    return max(below) + 1 if below else None


def _signed(note: str, keys: Mapping[str, Ed25519PublicKey], where: str = "the database") -> Checkpoint:
    try:
        checkpoint, signatures = parse(note)
    except NoteError as exc:
        raise VerificationError(f"a checkpoint in {where} is malformed: {exc}") from None
    for name, hash_, _ in signatures:
        public = keys.get(hash_.hex())
        if name == KEY_NAME and public is not None:
            try:
                return verify(note, KEY_NAME, public)
            except NoteError as exc:
                raise VerificationError(
                    f"{describe(checkpoint)} in {where}: its signature is forged or damaged: {exc}"
                ) from None
    names = ", ".join(f"{n}+{h.hex()}" for n, h, _ in signatures) or "none"
    raise VerificationError(f"{describe(checkpoint)} in {where} is signed by an unknown key ({names})")


def verify_extension(leaves: list[bytes], earlier_note: str, keys: Mapping[str, Ed25519PublicKey]) -> None:
    """Prove the current ledger is an append-only extension of an earlier checkpoint (RFC 9162 §2.1.4)."""
    earlier = _signed(earlier_note, keys)
    if earlier.size > len(leaves):
        raise VerificationError(
            f"the earlier checkpoint covers {earlier.size} entries but the ledger has {len(leaves)}", len(leaves) + 1
        )
    if earlier.size == 0:  # every tree extends the empty one, whose root is the hash of nothing (RFC 9162 §2.1.1)
        if earlier.root != root([]):
            raise VerificationError(
                "the earlier checkpoint of the empty ledger has a root that is not the empty tree's"
            )
        return
    new_root = root(leaves)
    try:
        proof = consistency_proof(earlier.size, leaves)
        verify_consistency(earlier.size, len(leaves), earlier.root, new_root, proof)
    except ProofError as exc:
        raise VerificationError(f"not an extension of the earlier checkpoint: {exc}") from None


def verify_ledger(
    rows: Iterable[LedgerRow],
    notes: Iterable[str | SignedHead],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    journal: JournalContents | None = None,
    each: Callable[[list[LedgerRow]], Iterable[LedgerRow]] = iter,
) -> Report:
    """Everything: the database against the journal, every entry, every checkpoint (the journal's
    included). `each` hands the entries to the check one by one (the CLI's progress bar)."""
    every = with_journal(list(rows), journal)
    leaves = verify_rows(each(every))
    heads = [*notes, *(SignedHead(c.note, "the journal") for c in (journal.checkpoints if journal else []))]
    checkpoints = verify_checkpoints(leaves, heads, keys)
    return Report(len(leaves), checkpoints, root(leaves), len(journal.rows) if journal else 0)


def known_key(public: Ed25519PublicKey) -> dict[str, Ed25519PublicKey]:
    return {key_hash(KEY_NAME, public.public_bytes_raw()).hex(): public}
