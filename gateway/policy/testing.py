"""`rollgate policy test`: run the Rego `test_*` rules of a policy directory, with coverage."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import PolicyError
from gateway.policy.engines import PolicyBundle, compile_bundle
from gateway.policy.service import short

_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)
_TEST_RULE = re.compile(r"^(test_\w+)\b", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class TestOutcome:
    name: str
    passed: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class TestReport:
    outcomes: list[TestOutcome]
    coverage_percent: float | None
    uncovered: list[str]

    @property
    def failed(self) -> int:
        return sum(not outcome.passed for outcome in self.outcomes)


def run_tests(directory: Path) -> TestReport:
    bundle = PolicyBundle.read(directory)
    engine = compile_bundle(bundle, coverage=True)
    outcomes: list[TestOutcome] = []
    for source in bundle.modules.values():
        package = _PACKAGE.search(source)
        if package is None:
            continue
        for rule in dict.fromkeys(_TEST_RULE.findall(source)):
            query = f"data.{package.group(1)}.{rule}"
            try:
                value = engine.eval_rule(query)
            except RuntimeError as exc:
                outcomes.append(TestOutcome(query, False, short(PolicyError(str(exc)))))
                continue
            outcomes.append(TestOutcome(query, value is True, "" if value is True else f"got {value!r}"))
    percent, uncovered = _coverage(engine, bundle)
    return TestReport(outcomes, percent, uncovered)


def _coverage(engine: object, bundle: PolicyBundle) -> tuple[float | None, list[str]]:
    try:
        report = json.loads(engine.get_coverage_report_as_json())  # type: ignore[attr-defined]
    except (RuntimeError, ValueError):
        return None, []
    covered = not_covered = 0
    uncovered: list[str] = []
    for file in report.get("files", []):
        path = file.get("path", "")
        if path.endswith("_test.rego"):
            continue
        covered += len(file.get("covered", []))
        missing = file.get("not_covered", [])
        not_covered += len(missing)
        uncovered.extend(f"{path}:{line}" for line in missing)
    total = covered + not_covered
    return (100.0 * covered / total if total else None), uncovered
