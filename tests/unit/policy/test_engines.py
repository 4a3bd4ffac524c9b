"""Both engines, the same policy, the same decisions; errors and timeouts fail closed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from gateway.policy import OpaEngine, PolicyBundle, PolicyEngine, PolicyService, RegorusEngine
from gateway.policy.document import Effect
from gateway.policy.engines import compile_bundle
from tests.conftest import DEFAULT_POLICIES, ROOT, free_port, stop, wait_for_http
from tests.unit.policy.inputs import policy_input

pytestmark = pytest.mark.anyio
QUERY = "data.rollgate.policy.decision"


@pytest.fixture
def opa_url() -> Iterator[str]:
    port = free_port()
    if shutil.which("opa"):
        command = ["opa", "run", "--server", f"--addr=127.0.0.1:{port}"]
    else:
        command = [sys.executable, str(ROOT / "tests" / "fixtures" / "opa_data_api.py"), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_http(f"http://127.0.0.1:{port}/health", process)
    yield f"http://127.0.0.1:{port}"
    stop(process)


async def engines(opa_url: str) -> list[PolicyEngine]:
    bundle = PolicyBundle.read(DEFAULT_POLICIES)
    loaded: list[PolicyEngine] = [RegorusEngine(), OpaEngine(opa_url, timeout=5.0, manage_policies=True)]
    for engine in loaded:
        await engine.load(bundle)
    return loaded


async def test_a_boolean_input_stays_a_boolean_in_regorus() -> None:
    engine = RegorusEngine()
    bundle = PolicyBundle(
        {"t.rego": "package t\nimport rego.v1\nkind := type_name(input.flag)\nis_true if input.flag == true\n"}, {}, ()
    )
    await engine.load(bundle)
    assert await engine.evaluate("data.t.kind", json.dumps({"flag": True})) == "boolean"
    assert await engine.evaluate("data.t.is_true", json.dumps({"flag": True})) is True
    assert await engine.evaluate("data.t.is_true", json.dumps({"flag": 1})) is None


@pytest.mark.parametrize("reversibility", ["read_only", "reversible", "compensable", "irreversible"])
@pytest.mark.parametrize("impact", ["low", "medium", "high", "critical"])
async def test_both_engines_decide_alike(opa_url: str, reversibility: str, impact: str) -> None:
    regorus_engine, opa_engine = await engines(opa_url)
    for confidence in (None, 0.1, 0.4, 0.9):
        document = policy_input(reversibility, impact, confidence=confidence).model_dump_json()
        assert await regorus_engine.evaluate(QUERY, document) == await opa_engine.evaluate(QUERY, document)
    await opa_engine.aclose()  # type: ignore[attr-defined]


async def test_an_unreachable_opa_denies_with_a_reason() -> None:
    service = PolicyService(
        OpaEngine(f"http://127.0.0.1:{free_port()}", 0.5, manage_policies=False), DEFAULT_POLICIES, QUERY
    )
    await service.load()
    evaluation = await service.evaluate(policy_input("read_only", "low"))
    await service.aclose()
    assert evaluation.decision.effect is Effect.DENY
    assert "OPA query failed" in evaluation.decision.reasons[0]


async def test_a_slow_opa_times_out_and_denies() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fixtures" / "opa_data_api.py"), "--port", str(port), "--delay", "5"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        service = PolicyService(
            OpaEngine(f"http://127.0.0.1:{port}", 0.3, manage_policies=True), DEFAULT_POLICIES, QUERY
        )
        await service.load()
        with anyio.fail_after(5):
            evaluation = await service.evaluate(policy_input("read_only", "low"))
        await service.aclose()
    finally:
        stop(process)
    assert evaluation.decision.effect is Effect.DENY
    assert "did not answer within 0.3s" in evaluation.decision.reasons[0]


async def test_a_broken_edit_keeps_the_last_good_policy_and_names_file_and_line(tmp_path: Path) -> None:
    for source in DEFAULT_POLICIES.glob("*"):
        if source.suffix in (".rego", ".json"):
            (tmp_path / source.name).write_text(source.read_text())
    service = PolicyService(RegorusEngine(), tmp_path, QUERY)
    await service.load()
    assert (await service.evaluate(policy_input("read_only", "low"))).decision.effect is Effect.ALLOW
    (tmp_path / "rollgate.rego").write_text((tmp_path / "rollgate.rego").read_text() + "\nbroken := {\n")
    await service.load()
    assert service.last_error is not None and "rollgate.rego" in service.last_error
    assert ":" in service.last_error.split("rollgate.rego", 1)[1][:6]  # file:line
    assert (await service.evaluate(policy_input("read_only", "low"))).decision.effect is Effect.ALLOW


async def test_an_edit_is_picked_up_by_the_watcher(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text('package rollgate.policy\nimport rego.v1\ndecision := {"effect": "allow"}\n')
    service = PolicyService(RegorusEngine(), tmp_path, QUERY)
    await service.load()
    async with anyio.create_task_group() as tg:
        tg.start_soon(service.watch, 0.05)
        await anyio.sleep(0.1)
        (tmp_path / "p.rego").write_text(
            'package rollgate.policy\nimport rego.v1\ndecision := {"effect": "deny", "reasons": ["edited"]}\n'
        )
        with anyio.fail_after(5):
            while (await service.evaluate(policy_input("read_only", "low"))).decision.effect is not Effect.DENY:
                await anyio.sleep(0.05)
        tg.cancel_scope.cancel()


async def test_the_compiled_vm_and_the_interpreter_agree_on_every_cell() -> None:
    bundle = PolicyBundle.read(DEFAULT_POLICIES)
    engine = RegorusEngine(QUERY)
    await engine.load(bundle)
    interpreter = compile_bundle(bundle)
    for reversibility in ("read_only", "reversible", "compensable", "irreversible", "bogus"):
        for impact in ("low", "medium", "high", "critical"):
            for confidence in (None, 0.1, 0.45, 0.9):
                document = policy_input("read_only", "low", confidence=confidence).model_dump(mode="json")
                document["tool"]["manifest"] = {"reversibility": reversibility, "impact": impact}
                text = json.dumps(document)
                interpreter.set_input_json(text)
                assert await engine.evaluate(QUERY, text) == interpreter.eval_rule(QUERY)
