"""`Gateway.faults()`: the breakers that are not simply closed and the leases held, for status and metrics."""

from __future__ import annotations

from pathlib import Path

from gateway.app import Gateway
from gateway.config import Config


def gateway(tmp_path: Path, **guards: object) -> Gateway:
    return Gateway(Config(paths={"state_dir": str(tmp_path / "state"), "manifests": str(tmp_path)}, guards=guards))


def test_faults_lists_open_breakers_of_each_kind_and_the_leases_held(tmp_path: Path) -> None:
    g = gateway(tmp_path, breakers={"failures": 1, "cooldown_seconds": 60})
    assert g.faults() == {"breakers": [], "leases": []}
    assert g.breakers is not None and g.leases is not None and g.compensation_breakers is not None
    g.breakers[0].failed("demo", "upstream 'demo' is unavailable")
    g.compensation_breakers.failed("demo__refund", "it answered an error")
    g.leases.try_take(["account:42"], "wf-1")
    faults = g.faults()
    assert [(b["kind"], b["key"], b["state"], b["failures"]) for b in faults["breakers"]] == [
        ("upstream", "demo", "open", 1),
        ("compensation", "demo__refund", "closed", 1),
    ]
    assert 0 < faults["breakers"][0]["retry_after"] <= 60
    assert [(lease["key"], lease["holder"]) for lease in faults["leases"]] == [("account:42", "wf-1")]


def test_turned_off_guards_have_nothing_to_show(tmp_path: Path) -> None:
    g = gateway(tmp_path, breakers={"enabled": False}, leases={"enabled": False})
    assert g.breakers is None and g.leases is None and g.compensation_breakers is None
    assert g.faults() == {"breakers": [], "leases": []}
