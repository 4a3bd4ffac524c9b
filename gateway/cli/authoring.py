"""`rollgate policy eval | test | schema` and `rollgate plan`: the commands for policy authors.

`policy test` and `policy schema` work on files alone; `policy eval` and `plan` start the gateway
in-process (`planning.py`), so only they load it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.config import Config
from gateway.errors import PolicyError
from gateway.manifests import ManifestFile
from gateway.models import Principal
from gateway.policy.document import Decision, PolicyInput
from gateway.policy.service import short
from gateway.policy.testing import run_tests


def run(args: argparse.Namespace, config: Config) -> int:
    if args.command == "plan":
        from gateway.cli.planning import plan_file

        return plan_file(config, args.file, Principal(args.principal, frozenset(args.role)))
    if args.policy_command == "test":
        return policy_test(args.directory or config.policies_dir, args.verbose)
    if args.policy_command == "schema":
        return export_schemas(None)
    try:
        arguments, meta = json.loads(args.args), json.loads(args.meta)
    except json.JSONDecodeError as exc:
        print(f"rollgate: --args/--meta must be JSON objects: {exc}", file=sys.stderr)
        return 2
    from gateway.cli.planning import policy_eval

    return policy_eval(config, args.tool, arguments, Principal(args.principal, frozenset(args.role)), meta)


def policy_test(directory: Path, verbose: bool) -> int:
    try:
        report = run_tests(directory)
    except PolicyError as exc:
        print(f"rollgate: the policy does not compile: {short(exc)}", file=sys.stderr)
        return 1
    for outcome in report.outcomes:
        if verbose or not outcome.passed:
            status = "PASS" if outcome.passed else "FAIL"
            print(f"{status} {outcome.name}" + (f"\n     {outcome.detail}" if outcome.detail else ""))
    passed = len(report.outcomes) - report.failed
    coverage = f"{report.coverage_percent:.1f}%" if report.coverage_percent is not None else "n/a"
    print(f"{passed} passed, {report.failed} failed (policy coverage {coverage})")
    for line in report.uncovered[:20]:
        print(f"  not covered: {line}")
    return 1 if report.failed or not report.outcomes else 0


def export_schemas(out: Path | None) -> int:
    schemas = {
        "tool_manifests/schema.json": ManifestFile.model_json_schema(),
        "policies/input.schema.json": PolicyInput.model_json_schema(),
        "policies/decision.schema.json": Decision.model_json_schema(),
    }
    for name, schema in schemas.items():
        target = (out or Path(".")) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        print(f"wrote {target}", file=sys.stderr)
    return 0
