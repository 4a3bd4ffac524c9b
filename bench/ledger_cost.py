"""What the signed ledger costs.

    .venv/bin/python bench/ledger_cost.py [--calls 2000] [--verify 100000] [--gateway-calls 300]
                                          [--store postgres --url postgresql://127.0.0.1/empty_db]
    .venv/bin/python bench/ledger_cost.py --baseline /tmp/before [--rounds 5]
    .venv/bin/python bench/ledger_cost.py --store-verify 1000000

1. Both entries of a call (intent + result), durable (fsync), p50/p99, one caller.
2. Durable appends per second: one caller, and 32 concurrent callers (group commit).
3. Offline verification speed: entries per second (hashes, chain, columns, Merkle root, signature).
4. The whole gateway with the ledger on and off, interleaved, p50 at concurrency 1.

`--baseline TREE` (a `git worktree` of the commit before): 32-caller appends/s and verification
entries/s of this checkout and of TREE's `gateway` package, measured in alternating subprocesses
(`--rounds` each), with the medians' ratios. `--store-verify N`: what `rollgate ledger verify`
does on a real SQLite ledger of N entries (read the index, compare with the journal, verify every
entry and checkpoint), timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if "--gateway-root" in sys.argv:  # measure another checkout's gateway package with this script
    ROOT = Path(sys.argv[sys.argv.index("--gateway-root") + 1]).resolve()
sys.path[:0] = [str(ROOT), str(HERE)]

from policy_latency import calls, gateway_client  # noqa: E402

from gateway.ledger.entry import GENESIS, index_columns, seal  # noqa: E402
from gateway.ledger.keys import KEY_NAME, load_or_create  # noqa: E402
from gateway.ledger.ledger import Ledger  # noqa: E402
from gateway.ledger.merkle import root  # noqa: E402
from gateway.ledger.note import Checkpoint  # noqa: E402
from gateway.ledger.verify import known_key, verify_ledger  # noqa: E402
from gateway.store import SqliteLedgerStore  # noqa: E402
from gateway.store.base import LedgerRow  # noqa: E402
from gateway.store.postgres import PostgresLedgerStore  # noqa: E402

DATA = {
    "correlation_id": "call_x",
    "principal": "agent",
    "workflow": "wf",
    "step": None,
    "tool": "demo/transfer",
    "requested_name": "demo__transfer",
    "roles": ["agent"],
    "arguments": {"from_account_id": "acc_1", "to_account_id": "acc_2", "amount_cents": 5000},
    "manifest": None,
    "decision": None,
    "compensation": False,
}
WHO = {key: DATA[key] for key in ("correlation_id", "principal", "workflow", "step", "tool", "requested_name")}
RESULT = {**WHO, "intent_seq": 1, "status": "ok", "duration_ms": 1.0}

try:  # the ledger takes typed events, built per call as the pipeline builds them
    from gateway.ledger.events import CallIntent, CallResult

    def intent() -> tuple[Any, ...]:
        return (CallIntent(**DATA),)

    def result() -> tuple[Any, ...]:
        return (CallResult(**RESULT),)
except ImportError:  # a `--baseline` from before typed events: kind and data

    def intent() -> tuple[Any, ...]:
        return ("call.intent", dict(DATA))

    def result() -> tuple[Any, ...]:
        return ("call.result", dict(RESULT))


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1e6


async def appends_c32(ledger: Ledger, calls: int) -> float:
    """Durable appends per second with 32 concurrent callers (group commit)."""
    done = 0

    async def caller() -> None:
        nonlocal done
        for _ in range(calls // 8):
            await ledger.append(*intent())
            done += 1

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(32):
            tg.start_soon(caller)
    return done / (time.perf_counter() - start)


async def appends(args: argparse.Namespace, directory: Path) -> None:
    key, _ = load_or_create(directory)
    store = PostgresLedgerStore(args.url) if args.store == "postgres" else SqliteLedgerStore(directory / "ledger.db")
    ledger = Ledger(store, key, f"bench/ledger ({args.store})")
    pairs = []
    for _ in range(args.calls):
        start = time.perf_counter()
        await ledger.append(*intent())
        await ledger.append(*result())
        pairs.append(time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(args.calls):
        await ledger.append(*intent())
    single = args.calls / (time.perf_counter() - start)
    concurrent = await appends_c32(ledger, args.calls)
    ledger.close()
    print(
        f"intent+result durable, c=1      p50 {pct(pairs, 50):8.1f} us   p99 {pct(pairs, 99):8.1f} us"
        "  (target p50 < 500 us)"
    )
    print(f"durable appends/s, 1 caller     {single:10.0f}")
    print(f"durable appends/s, 32 callers   {concurrent:10.0f}   (target >= 10000)")


def verification(count: int, directory: Path, *, quiet: bool = False) -> float:
    key, _ = load_or_create(directory)
    rows, prev = [], GENESIS
    for seq in range(1, count + 1):
        entry = seal(seq, prev, "2026-11-24T00:00:00+00:00", "call.intent", {**DATA, "correlation_id": f"c{seq}"})
        rows.append(LedgerRow(entry.seq, entry.body, entry.entry_hash, entry.leaf, **index_columns(entry)))
        prev = entry.entry_hash
    note = Checkpoint("bench", count, root([r.leaf for r in rows]), 0).sign(KEY_NAME, key.private)
    start = time.perf_counter()
    verify_ledger(rows, [note], known_key(key.public))
    elapsed = time.perf_counter() - start
    if not quiet:
        print(
            f"offline verification            {count / elapsed:10.0f} entries/s over {count} entries"
            "  (target >= 100000)"
        )
    return count / elapsed


async def gateway_on_off(args: argparse.Namespace) -> None:
    manifests = Path(tempfile.mkdtemp()) / "m"
    manifests.mkdir()
    (manifests / "echo.yaml").write_text(
        "version: 1\ntools:\n  - {server: minimal, tool: echo, reversibility: read_only, impact: low}\n"
    )
    rows: dict[str, list[float]] = {"ledger on": [], "ledger off": []}
    async with AsyncExitStack() as stack:
        clients = {
            "ledger on": await stack.enter_async_context(gateway_client(stack, ROOT / "policies", manifests)),
            "ledger off": await stack.enter_async_context(
                gateway_client(stack, ROOT / "policies", manifests, extra="[ledger]\nenabled = false\n")
            ),
        }
        for client in clients.values():
            await calls(client, 100)
        for _ in range(5):
            for name, client in clients.items():
                rows[name].extend(await calls(client, args.gateway_calls))
    p50 = {name: statistics.median(values) * 1e3 for name, values in rows.items()}
    print(f"gateway p50, ledger on          {p50['ledger on']:10.3f} ms")
    print(f"gateway p50, ledger off         {p50['ledger off']:10.3f} ms")
    print(f"ledger on / off                 {p50['ledger on'] / p50['ledger off']:10.2f}")


async def core(args: argparse.Namespace) -> None:
    """The two figures the A/B compares, as one JSON line."""
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        directory = Path(first)
        key, _ = load_or_create(directory)
        ledger = Ledger(SqliteLedgerStore(directory / "ledger.db"), key, "bench/ledger")
        appends_per_s = await appends_c32(ledger, args.calls)
        ledger.close()
        verify_per_s = verification(args.verify, Path(second), quiet=True)
    print(json.dumps({"appends_c32": appends_per_s, "verify": verify_per_s}))


def ab(args: argparse.Namespace) -> None:
    """Alternate this checkout and the baseline, `rounds` times each; print medians and ratios."""
    results: dict[str, list[dict[str, float]]] = {"this": [], "baseline": []}
    command = [sys.executable, str(Path(__file__).resolve()), "--core", "--calls", str(args.calls)]
    command += ["--verify", str(args.verify)]
    for _ in range(args.rounds):
        for name, extra in (("this", []), ("baseline", ["--gateway-root", args.baseline])):
            done = subprocess.run([*command, *extra], capture_output=True, text=True, check=True, cwd=ROOT)
            results[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    for figure, label in (("appends_c32", "durable appends/s, 32 callers"), ("verify", "verification entries/s")):
        this = statistics.median(r[figure] for r in results["this"])
        base = statistics.median(r[figure] for r in results["baseline"])
        runs = ", ".join(
            f"{r[figure] / b[figure]:.2f}" for r, b in zip(results["this"], results["baseline"], strict=True)
        )
        print(f"{label:32} this {this:10.0f}   baseline {base:10.0f}   ratio {this / base:5.2f}  (per round: {runs})")


def store_verify(count: int) -> None:
    """`rollgate ledger verify` on a real ledger of `count` entries, journal comparison included."""
    from gateway.ledger.keys import known_public_keys
    from gateway.ledger.ledger import sign_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        key, _ = load_or_create(directory)
        store = SqliteLedgerStore(directory / "ledger.db", journal_limit=1 << 40)  # one generation: all of it
        prev, batch = GENESIS, []
        for seq in range(1, count + 1):
            entry = seal(seq, prev, "2026-12-03T00:00:00+00:00", "call.intent", {**DATA, "correlation_id": f"c{seq}"})
            batch.append(LedgerRow(entry.seq, entry.body, entry.entry_hash, entry.leaf, **index_columns(entry)))
            prev = entry.entry_hash
            if len(batch) == 10_000:
                store.append(batch)
                store.settle()
                batch = []
        store.append(batch)
        store.settle()
        sign_checkpoint(store, key, "bench/ledger")
        store.close()
        reader = SqliteLedgerStore(directory / "ledger.db", writer=False)
        start = time.perf_counter()
        rows = list(reader.rows())
        read = time.perf_counter() - start
        journal = reader.journal()
        report = verify_ledger(
            rows, [n for _, n, _ in reader.checkpoints()], known_public_keys(directory), journal=journal
        )
        elapsed = time.perf_counter() - start
        reader.close()
        assert report.entries == count and report.journal_entries == count
        print(
            f"store verify, {count} entries     {elapsed:8.1f} s ({count / elapsed:.0f} entries/s; reading the index "
            f"{read:.1f} s; {report.journal_entries} compared with the journal, {report.checkpoints} checkpoint)"
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        await appends(args, Path(first))
        verification(args.verify, Path(second))
    await gateway_on_off(args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--verify", type=int, default=100_000)
    parser.add_argument("--gateway-calls", type=int, default=300)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite", help="for the append figures")
    parser.add_argument("--url", help="an empty PostgreSQL database, with --store postgres")
    parser.add_argument("--baseline", help="a checkout of the commit before: A/B of appends/s (c32) and verify/s")
    parser.add_argument("--rounds", type=int, default=5, help="with --baseline: subprocess runs of each")
    parser.add_argument("--store-verify", type=int, metavar="N", help="time verify of a real N-entry ledger")
    parser.add_argument("--core", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gateway-root", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.store == "postgres" and not options.url:
        parser.error("--store postgres needs --url postgresql://...")
    if options.core:
        anyio.run(core, options)
    elif options.baseline:
        ab(options)
    elif options.store_verify:
        store_verify(options.store_verify)
    else:
        anyio.run(main, options)
