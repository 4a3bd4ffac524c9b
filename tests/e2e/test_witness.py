"""A real `rollgate witness serve` process cosigning two ledgers, and catching a forger who holds the
ledger's signing key: a rewritten, re-signed ledger passes local verification, but the witness
refuses its checkpoint and `rollgate ledger verify --witness` fails naming the witnessed one."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.config import WitnessConfig
from gateway.ledger.events import event_from
from gateway.ledger.keys import load_or_create
from gateway.ledger.ledger import Ledger
from gateway.store import SqliteLedgerStore
from gateway.witness.client import Cosigned, PushFailed, push_blocking
from tests.conftest import PYTHON, ROOT, free_port, stop, wait_for_http
from tests.unit.ledger.entries import intent

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]


def rollgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "gateway", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


@dataclass
class Deployment:
    """One gateway's state directory and configuration, its ledger written through `Ledger`."""

    state_dir: Path
    origin: str
    config: Path

    def write(self, documents: list[tuple[str, dict[str, Any]]]) -> tuple[str, list[bytes]]:
        """Append the entries and sign the tree head; (checkpoint note, leaves)."""
        key, _ = load_or_create(self.state_dir)
        ledger = Ledger(SqliteLedgerStore(self.state_dir / "ledger.db"), key, self.origin)
        try:
            for kind, data in documents:
                ledger.append_blocking(event_from(kind, data))
            note = ledger.checkpoint()
            leaves = ledger.store.leaves()
        finally:
            ledger.close()
        assert note is not None
        return note, leaves

    def entries(self) -> list[tuple[str, dict[str, Any]]]:
        store = SqliteLedgerStore(self.state_dir / "ledger.db", writer=False)
        try:
            documents = [json.loads(row.body) for row in store.rows()]
        finally:
            store.close()
        return [(document["kind"], document["data"]) for document in documents]

    def forget_ledger(self) -> None:
        """What a forger does before writing the ledger anew: every copy goes, the key stays."""
        for path in self.state_dir.glob("ledger.db*"):
            path.unlink()

    def verify(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return rollgate("--config", str(self.config), "ledger", "verify", *extra)


def calls(n: int, start: int = 1) -> list[tuple[str, dict[str, Any]]]:
    return [
        ("call.intent", intent(i, tool="demo/transfer", arguments={"amount": i}).data())
        for i in range(start, start + n)
    ]


@dataclass
class RunningWitness:
    config: WitnessConfig
    output: Path


@pytest.fixture
def deployments(tmp_path: Path) -> dict[str, Deployment]:
    made = {}
    for name in ("a", "b"):
        state_dir = tmp_path / name
        state_dir.mkdir(mode=0o700)
        made[name] = Deployment(state_dir, f"rollgate.test/{name}", tmp_path / f"{name}.toml")
    return made


@pytest.fixture
def witness(tmp_path: Path, deployments: dict[str, Deployment]) -> Iterator[RunningWitness]:
    state = tmp_path / "witness"
    printed_key = rollgate("witness", "key", "--state-dir", str(state), "--name", "witness.test/w1")
    assert printed_key.returncode == 0, printed_key.stderr
    vkey = printed_key.stdout.strip()
    port = free_port()
    logs = [f"--log={d.origin}={load_or_create(d.state_dir)[0].verifier()}" for d in deployments.values()]
    output = tmp_path / "witness.log"
    serve = ["witness", "serve", "--state-dir", str(state), "--listen", f"127.0.0.1:{port}", *logs]
    process = subprocess.Popen(
        [PYTHON, "-m", "gateway", *serve],
        cwd=ROOT,
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/checkpoint/none", process)
        config = WitnessConfig(url=url, verifier_key=vkey)
        for deployment in deployments.values():
            deployment.config.write_text(
                f'[paths]\nstate_dir = "{deployment.state_dir}"\n[ledger]\norigin = "{deployment.origin}"\n'
                f'[[ledger.witnesses]]\nurl = "{url}"\nverifier_key = "{vkey}"\n'
            )
        yield RunningWitness(config, output)
    finally:
        stop(process)


def test_a_witness_cosigns_two_ledgers_and_catches_one_rewritten_with_its_own_key(
    witness: RunningWitness, deployments: dict[str, Deployment]
) -> None:
    a, b = deployments["a"], deployments["b"]
    assert f"witness verifier key: {witness.config.verifier_key}" in witness.output.read_text()

    note_a, leaves_a = a.write(calls(3))
    assert isinstance(push_blocking(note_a, leaves_a, [witness.config])[0], Cosigned)
    note_a, leaves_a = a.write(calls(4, start=4))
    (grown,) = push_blocking(note_a, leaves_a, [witness.config])  # old size unknown: 409, then from size 3
    assert isinstance(grown, Cosigned) and grown.size == 7
    note_b, leaves_b = b.write(calls(5))
    (cosigned_b,) = push_blocking(note_b, leaves_b, [witness.config])
    assert isinstance(cosigned_b, Cosigned) and cosigned_b.size == 5

    for deployment in (a, b):
        verified = deployment.verify("--witness")
        assert verified.returncode == 0, verified.stderr
        assert "witnessed: witness witness.test/w1" in verified.stdout
        assert "the local ledger contains it" in verified.stdout

    # The forger edits entry 2 of ledger b, writes every entry anew (hashes, chain, leaves, journal,
    # checkpoints) and signs with b's own key, which it holds; it adds an entry to look like growth.
    entries = b.entries()
    entries[1][1]["arguments"] = {"amount": 1_000_000}
    b.forget_ledger()
    forged_note, forged_leaves = b.write([*entries, *calls(1, start=6)])
    local = b.verify()
    assert local.returncode == 0, local.stderr  # locally, the forgery is flawless

    (refused,) = push_blocking(forged_note, forged_leaves, [witness.config])
    assert isinstance(refused, PushFailed) and refused.status == 422, refused
    (refused_again,) = push_blocking(
        forged_note, forged_leaves, [witness.config], old_sizes={witness.config.verifier_key: 5}
    )
    assert isinstance(refused_again, PushFailed) and refused_again.status == 422

    caught = b.verify("--witness")
    assert caught.returncode == 1, caught.stdout
    assert "FAILED: witness witness.test/w1" in caught.stderr
    assert "checkpoint (size 5, signed " in caught.stderr
    assert "the ledger was rewritten after the witness saw it" in caught.stderr

    still = a.verify("--witness")
    assert still.returncode == 0, still.stderr
    assert "cosigned checkpoint (size 7" in still.stdout


def start_serving(deployment: Deployment, port: int, log: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [PYTHON, "-m", "gateway", "--config", str(deployment.config), "serve"],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
    return process


async def test_two_running_gateways_push_their_checkpoints_and_a_rewrite_is_refused(
    witness: RunningWitness, deployments: dict[str, Deployment], tmp_path: Path
) -> None:
    """The gateways themselves push (periodically and at stop); the forger restarts one on a
    ledger rewritten with its own key, and that gateway's next checkpoint is refused."""
    import signal

    from tests.conftest import ALLOW_ALL, TOKEN, agents_toml, probe_upstream
    from tests.e2e.helpers import http_client

    ports = {}
    for name, deployment in deployments.items():
        ports[name] = free_port()
        deployment.config.write_text(
            deployment.config.read_text()
            .replace("[ledger]\n", "[ledger]\ncheckpoint_interval_seconds = 0.5\n")
            .replace("[paths]\n", f'[paths]\npolicies = "{ALLOW_ALL}"\n')
            + f"[server]\nport = {ports[name]}\n{agents_toml()}\n{probe_upstream()}"
        )
    logs = {name: tmp_path / f"gateway-{name}.log" for name in deployments}
    for name, deployment in deployments.items():
        process = start_serving(deployment, ports[name], logs[name])
        try:
            async with http_client(f"http://127.0.0.1:{ports[name]}/mcp", TOKEN) as client:
                for n in range(3):
                    await client.call_tool("probe__echo", {"text": f"{name} {n}"})
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
    for deployment in deployments.values():
        verified = deployment.verify("--witness")
        assert verified.returncode == 0, verified.stderr + verified.stdout
        assert "the local ledger contains it" in verified.stdout

    b = deployments["b"]
    entries = b.entries()
    intent = next(i for i, (kind, _) in enumerate(entries) if kind == "call.intent")
    entries[intent][1]["arguments"] = {"text": "what the forger wanted"}
    b.forget_ledger()
    b.write(entries)  # re-signed with b's own key: every local check passes
    assert b.verify().returncode == 0
    process = start_serving(b, ports["b"], logs["b"])
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert "refused checkpoint size" in logs["b"].read_text()  # the gateway says so, loudly
    caught = b.verify("--witness")
    assert caught.returncode == 1 and "the ledger was rewritten after the witness saw it" in caught.stderr
    assert deployments["a"].verify("--witness").returncode == 0
