"""One run of the conformance suite (server mode) against one URL, read back as per-scenario
outcomes with the message of every failing check.

Suite 0.1.x scores one revision (2025-11-25) and is run with `--suite all`; 0.2.x scores each spec
revision at its own wire and is run once per revision with `--requirements <revision>`, which runs
exactly the scenarios that revision requires plus the unscored ones (extension, pending, added after
release), reported apart.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from toolchain import NODE, node_env, suite_entry

OUTCOME = re.compile(r"^[✓✗] ([a-z0-9-]+): (\d+) passed, (\d+) failed")
UNSCORED = re.compile(r"^\s+[✓✗] ([a-z0-9-]+) \(([a-z-]+)\)")
REVISIONS = re.compile(r"Requirement sets available: ([0-9, -]+)")
CHECKS_DIR = re.compile(r"^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$")
RUN_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class Outcome:
    passed: int
    failed: int
    unscored: str | None = None
    """Why the suite does not score it at this revision (extension, pending, ...), or None."""
    failures: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.failed == 0


def revisions(version: str) -> list[str]:
    """The revisions this suite version scores, each at its own wire; ["2025-11-25"] for 0.1.x."""
    done = subprocess.run(
        [str(NODE), str(suite_entry(version)), "list", "--help"], capture_output=True, text=True, env=node_env()
    )
    found = REVISIONS.search(" ".join(done.stdout.split()))
    return [r.strip() for r in found.group(1).split(",")] if found else ["2025-11-25"]


def run(version: str, revision: str, url: str, out: Path) -> dict[str, Outcome]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    scope = ["--requirements", revision] if version_scores_revisions(version) else ["--suite", "all"]
    argv = [str(NODE), str(suite_entry(version)), "server", "--url", url, *scope, "-o", str(out / "checks")]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=node_env(), timeout=RUN_TIMEOUT_SECONDS)
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        stdout = _text(expired.stdout) + f"\n(run stopped after {RUN_TIMEOUT_SECONDS} s)\n"
        stderr = _text(expired.stderr)
    (out / "stdout.txt").write_text(stdout)
    (out / "stderr.txt").write_text(stderr)
    return parse(stdout, failing_checks(out / "checks"))


def version_scores_revisions(version: str) -> bool:
    return not version.startswith("0.1.")


def parse(stdout: str, failures: dict[str, tuple[str, ...]]) -> dict[str, Outcome]:
    counts: dict[str, tuple[int, int]] = {}
    unscored: dict[str, str] = {}
    in_unscored = False
    for line in stdout.splitlines():
        if line.startswith("Not scored for"):
            in_unscored = True
        elif in_unscored and (match := UNSCORED.match(line)):
            unscored[match.group(1)] = match.group(2)
        elif match := OUTCOME.match(line.strip()):
            counts[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    return {
        name: Outcome(passed, failed, unscored.get(name), failures.get(name, ()))
        for name, (passed, failed) in counts.items()
    }


def failing_checks(checks: Path) -> dict[str, tuple[str, ...]]:
    """scenario -> "check-id: message" for each check of status FAILURE in its checks.json."""
    found: dict[str, tuple[str, ...]] = {}
    for path in sorted(checks.glob("*/checks.json")) if checks.exists() else ():
        if not (match := CHECKS_DIR.match(path.parent.name)):
            continue
        entries = json.loads(path.read_text())
        found[match.group(1)] = tuple(
            f"{c.get('id')}: {c.get('errorMessage') or c.get('description', '')}"
            for c in entries
            if c.get("status") == "FAILURE"
        )
    return found


def _text(value: bytes | str | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
