"""`docs/grafana-dashboard.json`: a Grafana dashboard whose queries name only the gateway's families."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gateway.observability.metrics import Metrics

DASHBOARD = Path(__file__).resolve().parents[3] / "docs" / "grafana-dashboard.json"
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def test_every_query_names_a_family_the_gateway_exposes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = {family.name for family in Metrics().collect()}
    named = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"rollgate_[a-z_]+", target["expr"])
    }
    assert named
    for name in named:
        base = next((name.removesuffix(s) for s in SUFFIXES if name.endswith(s)), name)
        assert base in exposed, f"{name} is not a family of gateway.observability.metrics"
    assert {"uid", "title", "panels", "schemaVersion"} <= set(dashboard)
