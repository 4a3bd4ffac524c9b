"""First run outside the checkout: the built wheel, installed in a fresh venv, `rollgate init`, serve.

The wheel is built from a copy of the sources without build isolation (the dev extras carry
setuptools>=77) and installed with `--no-index --no-deps`, so nothing is downloaded. The fresh venv
finds its dependencies through a `.pth` line naming the project venv's site-packages: `.pth` files
inside that directory are not processed, so the project's editable install of `gateway` stays
invisible and every import of `gateway` must come from the wheel (the test checks it does).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import PYTHON, ROOT, free_port, stop, wait_for_http
from tests.e2e.helpers import decision_of, http_client, text_of

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

OFFLINE = ("--no-index", "--no-deps")
SOURCES = ("pyproject.toml", "README.md", "MANIFEST.in", "build_defaults.py", "gateway", "policies", "tool_manifests")

NOTES_SERVER = '''\
"""A stdio MCP server with one read-only tool and one destructive one."""
from pathlib import Path

import mcp_types as types
from mcp.server import MCPServer

server = MCPServer("notes")


@server.tool(annotations=types.ToolAnnotations(read_only_hint=True))
def read_note(name: str) -> str:
    """Read a note."""
    return f"note {name}"


@server.tool(annotations=types.ToolAnnotations(destructive_hint=True))
def delete_notes(path: str) -> str:
    """Delete every note (here: leave a mark that it ran)."""
    Path(path).write_text("deleted")
    return "deleted"


server.run()
'''


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    run(PYTHON, "-m", "pip", "wheel", "-q", *OFFLINE, "--no-build-isolation", "-w", dist, source, cwd=tmp_path)
    (wheel,) = dist.glob("rollgate-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    run(PYTHON, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    here = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site / "project-dependencies.pth").write_text("\n".join(sorted(here)) + "\n")
    run(PYTHON, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", *OFFLINE, wheel, cwd=tmp_path)
    return venv


async def test_the_installed_wheel_inits_serves_and_decides_by_the_packaged_policy(tmp_path: Path) -> None:
    venv = fresh_venv(tmp_path, build_wheel(tmp_path))
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and not k.startswith("ROLLGATE_")
    }
    python, rollgate = venv / "bin" / "python", venv / "bin" / "rollgate"

    where = run(
        python,
        "-c",
        "import gateway, gateway.defaults as d; print(gateway.__file__); print(d.default_policies())",
        cwd=work,
        env=env,
    )
    assert all(Path(line).is_relative_to(venv) for line in where.split()), where
    tested = run(rollgate, "policy", "test", cwd=work, env=env)  # no rollgate.toml here: the packaged policy
    assert re.search(r"^[1-9]\d* passed, 0 failed", tested, re.MULTILINE), tested

    printed = run(rollgate, "init", "gw", cwd=work, env=env)
    (token,) = set(re.findall(r"rg_[A-Za-z0-9_-]{32}", printed))
    (work / "notes_server.py").write_text(NOTES_SERVER)
    config = work / "gw" / "rollgate.toml"
    config.write_text(
        config.read_text()
        + f'\n[[upstreams]]\nname = "notes"\ncommand = "python"\nargs = ["{work / "notes_server.py"}"]\n'
    )

    port = free_port()
    serving = env | {"ROLLGATE_SERVER__PORT": str(port), "ROLLGATE_APPROVALS__WAIT_SECONDS": "0.3"}
    log = tmp_path / "gateway.log"
    gateway = subprocess.Popen(
        [rollgate, "--config", config, "serve"], cwd=work, env=serving, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", gateway)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\n{log.read_text()}") from None
        marker = work / "deleted"
        async with http_client(f"http://127.0.0.1:{port}/mcp", token) as client:
            read = await client.call_tool("notes__read_note", {"name": "a"})
            assert not read.is_error and text_of(read) == "note a"
            held = await client.call_tool("notes__delete_notes", {"path": str(marker)})
            assert held.is_error and decision_of(held)["effect"] == "require_approval", text_of(held)
        assert not marker.exists()
    finally:
        stop(gateway)
    assert f"policy loaded: 2 modules from {work / 'gw' / 'policies'}" in log.read_text()
    run(rollgate, "--config", config, "ledger", "verify", cwd=work, env=env)
