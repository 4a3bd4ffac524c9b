"""`rollgate init [DIR]`: a first configuration that validates and starts, outside the checkout.

It writes `rollgate.toml` with one agent, `policies/` (a copy of the packaged default policy, to
edit) and `tool_manifests/` (one commented example and the manifest schema), then prints the token
once and the next three commands. The token is made as `rollgate token` makes it and only its
SHA-256 is written. Nothing is overwritten without `--force`: a configuration holds identities and
an edited policy is someone's work, so an existing file stops the whole run before anything is
written.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from gateway.config import ServerConfig, hash_token, new_token
from gateway.defaults import default_policies, manifest_schema
from gateway.errors import WouldOverwriteError

__all__ = ["StarterFile", "init", "starter_files", "write_starter"]

CONFIG_MODE = 0o600
"""Private: later edits add upstream headers and webhook URLs, which often hold secrets."""
FILE_MODE = 0o644

_CONFIG = """\
# Rollgate, as `rollgate init` wrote it. Every key and its default: README, "Configuration".
# Relative paths are relative to this file.

[server]
host = "{host}"
port = {port}

[paths]
policies = "policies"          # your copy of the default policy; without this line the packaged one decides
manifests = "tool_manifests"   # what each tool does and how to undo it; edits are taken without a restart
state_dir = ".rollgate"        # the signed ledger, its key, approvals: keep it

# The agent `rollgate init` made. Its token was printed once; only its SHA-256 is kept here.
# More agents, or approvers (people who decide on held calls): rollgate token NAME [--approver]
[[agents]]
id = "agent"
roles = ["agent"]
token_sha256 = "{token_sha256}"

# The tool servers behind the gateway: a command (stdio) or a URL (streamable HTTP), for example
#
# [[upstreams]]
# name = "files"
# command = "npx"
# args = ["-y", "@modelcontextprotocol/server-filesystem", "/srv/shared"]
#
# [[upstreams]]
# name = "tickets"
# url = "http://127.0.0.1:9000/mcp"
"""

_EXAMPLE_MANIFEST = """\
# An example tool manifest: uncomment it and change it for a tool of one of your [[upstreams]].
# Every *.yaml file here is read, and edits are taken without a restart (a broken edit keeps the
# last good set and logs its file and line). Schema: schema.json beside this file.
# A tool without a manifest is judged by its MCP annotations; one without those either counts as
# irreversible with high impact, which the default policy holds for approval.
#
# version: 1
# tools:
#   - server: files               # the upstream's name in rollgate.toml
#     tool: "read_*"              # the upstream's own tool name; globs allowed, exact names win
#     reversibility: read_only    # read_only | reversible | compensable | irreversible
#     impact: low                 # low | medium | high | critical
#   - server: files
#     tool: write_file
#     reversibility: irreversible # nothing undoes it
#     impact: medium
#     side_effects: ["overwrites a file"]
#     blast_radius: ["file:{args.path}"]
"""


@dataclass(frozen=True, slots=True)
class StarterFile:
    path: Path
    """Relative to the directory `rollgate init` writes to."""
    content: bytes
    mode: int


def starter_files(token_sha256: str, server: ServerConfig | None = None) -> list[StarterFile]:
    """What `rollgate init` writes, the policy copied from the packaged default."""
    server = server or ServerConfig()
    config = _CONFIG.format(host=server.host, port=server.port, token_sha256=token_sha256)
    policies = sorted(p for p in default_policies().iterdir() if p.is_file() and p.suffix in (".rego", ".json"))
    return [
        StarterFile(Path("rollgate.toml"), config.encode(), CONFIG_MODE),
        *(StarterFile(Path("policies") / p.name, p.read_bytes(), FILE_MODE) for p in policies),
        StarterFile(Path("tool_manifests") / "example.yaml", _EXAMPLE_MANIFEST.encode(), FILE_MODE),
        StarterFile(Path("tool_manifests") / "schema.json", manifest_schema().read_bytes(), FILE_MODE),
    ]


def write_starter(directory: Path, files: list[StarterFile], *, force: bool = False) -> None:
    """Write every file, or none: WouldOverwriteError names those that exist (unless `force`)."""
    existing = [directory / f.path for f in files if (directory / f.path).exists()]
    if existing and not force:
        names = ", ".join(str(path) for path in existing)
        raise WouldOverwriteError(f"not overwriting {names}; nothing was written (--force overwrites)")
    for file in files:
        target = directory / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, file.mode)
        with os.fdopen(descriptor, "wb") as out:
            out.write(file.content)
        os.chmod(target, file.mode)  # O_CREAT's mode is filtered by the umask and ignored for a file that exists


def init(directory: Path, *, force: bool = False) -> int:
    """The `rollgate init` command: write the starter, print the token once and what to run next."""
    token = new_token()
    server = ServerConfig()
    write_starter(directory, starter_files(hash_token(token), server), force=force)
    config = shlex.quote(str(directory / "rollgate.toml"))
    print(f"wrote {config}, {directory / 'policies'}/ (the default policy, to edit), {directory / 'tool_manifests'}/")
    print(f"\nagent token, shown only now (rollgate.toml keeps its SHA-256): {token}\n")
    print("next:")
    print(f"  1. add your tool servers as [[upstreams]] to {config}, then start the gateway:")
    print(f"       rollgate --config {config} serve")
    print(f"  2. point an MCP client (streamable HTTP) at http://{server.host}:{server.port}{server.path}")
    print('     with the header "Authorization: Bearer <the token above>"')
    print("  3. check the signed ledger of what the gateway let through:")
    print(f"       rollgate --config {config} ledger verify")
    return 0
