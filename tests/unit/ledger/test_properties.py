"""Any sequence of appends verifies; any single-byte change to any stored entry does not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.errors import VerificationError
from gateway.ledger.entry import GENESIS, index_columns, seal
from gateway.ledger.events import KeyRotated
from gateway.ledger.export import export_lines, verify_export
from gateway.ledger.keys import KEY_NAME, known_public_keys, load_or_create, rotate
from gateway.ledger.ledger import Ledger
from gateway.ledger.merkle import root
from gateway.ledger.note import Checkpoint
from gateway.ledger.privacy import Masker
from gateway.ledger.verify import known_key, verify_ledger
from gateway.store import SqliteLedgerStore
from gateway.store.base import LedgerRow
from tests.unit.ledger.entries import intent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
entries = st.lists(
    st.tuples(
        st.sampled_from(["call.intent", "call.result", "policy.reload"]),
        st.dictionaries(st.sampled_from(["workflow", "principal", "tool", "x", "y"]), json_values, max_size=4),
    ),
    min_size=1,
    max_size=25,
)


def build(items: list[tuple[str, dict]]) -> list[LedgerRow]:
    rows, prev = [], GENESIS
    for seq, (kind, data) in enumerate(items, start=1):
        data = {
            k: (v if k not in ("workflow", "principal", "tool") or isinstance(v, str) else str(v))
            for k, v in data.items()
        }
        entry = seal(seq, prev, "2026-11-24T00:00:00+00:00", kind, data)
        rows.append(LedgerRow(entry.seq, entry.body, entry.entry_hash, entry.leaf, **index_columns(entry)))
        prev = entry.entry_hash
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=entries, data=st.data())
def test_appends_verify_and_any_single_byte_change_is_caught(tmp_path: Path, items, data) -> None:
    key, _ = load_or_create(tmp_path)
    rows = build(items)
    note = Checkpoint("t", len(rows), root([r.leaf for r in rows]), 0).sign(KEY_NAME, key.private)
    keys = known_key(key.public)
    verify_ledger(rows, [note], keys)
    index = data.draw(st.integers(0, len(rows) - 1))
    row = rows[index]
    position = data.draw(st.integers(0, len(row.body) - 1))
    flipped = bytearray(row.body)
    flipped[position] ^= data.draw(st.integers(1, 255))
    rows[index] = LedgerRow(
        row.seq,
        bytes(flipped),
        row.entry_hash,
        row.leaf,
        row.kind,
        row.workflow,
        row.principal,
        row.tool,
        row.correlation,
        row.time,
    )
    with pytest.raises(VerificationError) as failed:
        verify_ledger(rows, [note], keys)
    assert failed.value.seq == row.seq


def test_an_export_verifies_offline_with_only_the_public_key_and_catches_edits(tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), key, "t")
    for n in range(37):
        ledger.append_blocking(intent(n))
    ledger.close()
    store = SqliteLedgerStore(tmp_path / "ledger.db", writer=False)
    lines = list(export_lines(list(store.rows()), store.checkpoints()[-1][1], "t", [key.public]))
    report = verify_export(io.StringIO("\n".join(lines) + "\n"), key.public)
    assert report.entries == 37
    lines[20] = lines[20].replace('\\"n\\":19', '\\"n\\":91')
    with pytest.raises(VerificationError, match="entry 20"):
        verify_export(io.StringIO("\n".join(lines) + "\n"), key.public)


def test_a_rotated_key_keeps_old_checkpoints_verifiable(tmp_path: Path) -> None:
    key, _ = load_or_create(tmp_path)
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), key, "t")
    ledger.append_blocking(intent(1))
    ledger.close()
    old, new = rotate(tmp_path)
    assert old.key_id != new.key_id and (tmp_path / "keys" / "ledger.key").stat().st_mode & 0o777 == 0o600
    ledger = Ledger(SqliteLedgerStore(tmp_path / "ledger.db"), new, "t")
    ledger.append_blocking(KeyRotated(key_id=new.key_id, reason="rotated"))
    ledger.close()
    store = SqliteLedgerStore(tmp_path / "ledger.db", writer=False)
    report = verify_ledger(list(store.rows()), [n for _, n, _ in store.checkpoints()], known_public_keys(tmp_path))
    assert (report.entries, report.checkpoints) == (2, 2)


def test_masked_paths_are_stored_as_salted_digests_and_large_results_as_digest_and_size(tmp_path: Path) -> None:
    masker = Masker.for_state_dir(tmp_path, max_result_bytes=100)
    masked = masker.mask("args", {"card": {"number": "4111"}, "amount": 5}, ["args.card.number", "result.x"])
    assert masked["amount"] == 5 and "4111" not in str(masked)
    assert masked["card"]["number"]["masked"].startswith("hmac-sha256:")
    assert (
        masked["card"]["number"]
        == Masker.for_state_dir(tmp_path, 100).mask("args", {"card": {"number": "4111"}}, ["args.card.number"])["card"][
            "number"
        ]
    )
    big = masker.limit({"text": "x" * 500})
    assert big["size"] > 500 and len(big["sha256"]) == 64
    assert (tmp_path / "keys" / "mask.salt").stat().st_mode & 0o777 == 0o600
