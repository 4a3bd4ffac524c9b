#!/usr/bin/env bash
# Creates bench/.venv-mcp-proxy: mcp-proxy, the pass-through the proxy-latency bench compares
# against. It needs mcp<2, so it cannot share the main venv. Pinned so that runs stay comparable.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv-mcp-proxy"
[ -x "$venv/bin/mcp-proxy" ] && exit 0
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "mcp-proxy==0.13.0"
