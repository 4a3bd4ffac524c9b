"""One configuration tree, loaded from `rollgate.toml` and `ROLLGATE_*` environment variables.

Every validation error names the offending key (`upstreams[0].url: ...`), so a platform engineer
can fix the file without reading a traceback. Relative paths are resolved against the directory
that holds the configuration file.
"""

from __future__ import annotations

import hashlib
import secrets
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.defaults import default_policies
from gateway.errors import ConfigError

_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Section):
    """The downstream streamable HTTP listener."""

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8765
    path: str = "/mcp"
    allowed_hosts: list[str] | None = None
    """Host header values accepted (DNS-rebinding protection); default: the loopback names."""
    allowed_origins: list[str] | None = None
    """Origin header values accepted; default: loopback origins. Requests without Origin pass."""
    max_request_bytes: Annotated[int, Field(gt=0)] = 4 * 1024 * 1024
    keep_alive_seconds: Annotated[float, Field(gt=0)] = 75.0
    """Longer than any client's own idle expiry, so the client always closes an idle connection first."""
    session_idle_timeout_seconds: Annotated[float, Field(gt=0)] = 10 * 60
    """A session with no request for this long is closed with its upstream links (clients that
    send no DELETE); its id then answers 404 and the client initialises a new one."""
    event_history: Annotated[int, Field(ge=0)] = 1000
    """SSE events kept per session for resumption (Last-Event-ID); 0 turns resumption off."""
    sse_retry_milliseconds: Annotated[int, Field(gt=0)] = 1000
    """The `retry` a resumable SSE stream suggests: how long a client that lost it waits before
    reconnecting with Last-Event-ID (streamable HTTP, resumability; SEP-1699)."""
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    """auto: uvloop where it is installed (less event-loop CPU per call), else asyncio's own."""

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class UpstreamConfig(_Section):
    """One tool server behind the gateway: a command (stdio) or a URL (streamable HTTP or SSE)."""

    name: Annotated[str, Field(pattern=_NAME_PATTERN)]
    command: str | None = None
    """Executable of a stdio upstream; "python" means the gateway's own interpreter."""
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    """Working directory of a stdio upstream, relative to the configuration file."""
    url: str | None = None
    transport: Literal["stdio", "streamable_http", "sse"] | None = None
    headers: dict[str, str] = {}
    timeout_seconds: Annotated[float, Field(gt=0)] = 60.0
    """Per-call timeout: a call still unanswered after this long fails with a clear error."""
    connect_timeout_seconds: Annotated[float, Field(gt=0)] = 30.0
    restart_backoff_seconds: Annotated[float, Field(gt=0)] = 0.5
    restart_backoff_max_seconds: Annotated[float, Field(gt=0)] = 30.0
    http_keepalive_seconds: Annotated[float, Field(gt=0)] = 2.0
    """Idle expiry of pooled HTTP connections to the upstream. It must stay below the upstream
    server's own keep-alive (5 s for uvicorn), or a reused connection the server has just closed
    ends the whole MCP session."""

    @model_validator(mode="after")
    def _one_endpoint(self) -> Self:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (HTTP)")
        kind = self.transport or ("stdio" if self.command else "streamable_http")
        if (kind == "stdio") != (self.command is not None):
            raise ValueError(f"transport {kind!r} does not fit {'command' if self.command else 'url'}")
        return self

    @property
    def kind(self) -> Literal["stdio", "streamable_http", "sse"]:
        return self.transport or ("stdio" if self.command else "streamable_http")


class NamespaceConfig(_Section):
    """How upstream names are exposed: `prefix` gives `<upstream><separator><name>`."""

    mode: Literal["prefix", "none"] = "prefix"
    separator: Annotated[str, Field(min_length=1, max_length=4)] = "__"


class AgentConfig(_Section):
    """An agent principal, authenticated by a bearer token stored only as its SHA-256."""

    id: Annotated[str, Field(min_length=1)]
    roles: list[str] = []
    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class AuthConfig(_Section):
    allow_anonymous: bool = False
    """Serve HTTP requests without a token as principal `anonymous`. Off by default: fail closed."""
    anonymous_roles: list[str] = []
    stdio_principal: str = "local"
    """The principal of the single client of `rollgate stdio`, which has no token."""
    stdio_roles: list[str] = ["agent"]


class StdioConfig(_Section):
    """`rollgate stdio`: upstreams connect in the background, and processes on one state dir share one owner."""

    first_listing_wait_seconds: Annotated[float, Field(ge=0)] = 5.0
    """How long after start `tools/list` waits, at most, for the upstreams' first connection
    attempts, so that fast upstreams are in the first listing (a hung one never holds it longer)."""
    follow_seconds: Annotated[float, Field(gt=0)] = 15.0
    """How long a process that found the ledger owned keeps trying to reach the owner's socket
    (or to become the owner itself) before it gives up."""


class PolicyConfig(_Section):
    engine: Literal["regorus", "opa"] = "regorus"
    query: str = "data.rollgate.policy.decision"
    """The rule whose value is the decision document."""
    opa_url: str = "http://127.0.0.1:8181"
    opa_timeout_seconds: Annotated[float, Field(gt=0)] = 1.0
    manage_opa_policies: bool = True
    """Push `policies/` to the OPA server on start and on change (both engines then decide alike)."""
    reload_interval_seconds: Annotated[float, Field(gt=0)] = 1.0


class WitnessConfig(_Section):
    """A C2SP tlog-witness that cosigns this ledger's checkpoints."""

    url: str
    """The witness's base URL: checkpoints go to `{url}/add-checkpoint`."""
    verifier_key: str
    """The witness's note verifier key (`name+hash+base64`), as `rollgate witness serve` prints it."""


class LedgerConfig(_Section):
    enabled: bool = True
    database: Path = Path("ledger.db")
    """SQLite file, relative to the state directory (used unless `url` is set)."""
    url: str | None = None
    """A PostgreSQL database for the ledger instead (`postgresql://user@host:5432/db`)."""
    origin: str = "rollgate.local/ledger"
    """The log's name in its signed checkpoints."""
    checkpoint_interval_seconds: Annotated[float, Field(gt=0)] = 10.0
    checkpoint_copy: Path | None = None
    """A second place for the newest signed checkpoint, outside the state directory (another
    disk, a mount only the gateway writes): at start the ledger must extend it."""
    witnesses: list[WitnessConfig] = []
    """Witnesses each new checkpoint is pushed to (C2SP tlog-witness)."""
    max_result_bytes: Annotated[int, Field(ge=0)] = 64 * 1024
    """Results larger than this (canonical JSON) are stored as digest and size."""
    read_only_intents: Literal["before_forward", "before_answer"] = "before_answer"
    """When the intent of a call to a tool your manifest declares `read_only` must be durable:
    before the call is forwarded, like every other call, or (the default) before its answer goes
    to the agent, the fsync overlapping the upstream's work. Either way no answer reaches an agent
    unless its call is on record; a crash in between loses only the record of a read whose
    answer nobody received."""

    @field_validator("url")
    @classmethod
    def _postgresql_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (the SQLite ledger is configured with 'database')")
        return value


class ApprovalsConfig(_Section):
    enabled: bool = True
    database: Path = Path("approvals.db")
    """SQLite file, relative to the state directory."""
    wait_seconds: Annotated[float, Field(ge=0, le=50)] = 20.0
    """How long an agent's request waits (with progress) before a pending result. Clients cut tool
    calls off after 60–120 s, so this stays well below."""
    ttl_seconds: Annotated[float, Field(gt=0)] = 3600.0
    """A pending approval expires (denied, reason "expired") after this long."""
    same_call_seconds: Annotated[float, Field(ge=0)] = 86400.0
    """For this long after a held call was approved and ran, the agent's retry of the same call
    (same principal, workflow, tool and arguments) gets that run's recorded result, not a new
    ticket: an approved e-mail is sent once however often the agent asks again."""
    poll_seconds: Annotated[float, Field(gt=0)] = 0.5
    webhooks: list[str] = []
    """URLs that receive a Slack-compatible JSON message for each new pending approval."""
    public_url: str | None = None
    """Where approvers open the approvals page, for links in notifications."""


class ApproverConfig(_Section):
    """A person (or team) who decides on held calls; never an agent."""

    id: Annotated[str, Field(min_length=1)]
    roles: list[str] = ["approver"]
    token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class WorkflowsConfig(_Section):
    """Who may act on a workflow, and how calls without a workflow id are grouped."""

    shared_roles: list[str] = []
    """Agents that both hold one of these roles may act on each other's workflows (a team). By
    default a workflow belongs to the principal that first used it, and only to it."""
    idle_seconds: Annotated[float, Field(gt=0)] = 15 * 60
    """A client without a session (2026-07-28) that names no workflow joins its principal's current
    workflow; after this long without a call, its next call starts a new one."""


class LimitsConfig(_Section):
    """Bounds that stop abuse and never a well-behaved agent."""

    max_sessions_per_principal: Annotated[int, Field(ge=1)] = 32
    """Live streamable HTTP sessions of one principal; more are refused (429) until one ends. Each
    session opens its own upstream links (a process per stdio upstream), so this bounds those too."""
    max_upstream_links_per_principal: Annotated[int, Field(ge=1)] = 64
    """Upstream connections opened for one principal's sessions (a process each for a stdio
    upstream, about 70 MB for a Python server); a call that would open one more fails clearly."""
    max_plan_calls: Annotated[int, Field(ge=1)] = 500
    """Calls in one `rollgate_plan` request."""
    max_json_depth: Annotated[int, Field(ge=4)] = 64
    """Nesting depth of a call's arguments and `_meta`."""


class ObservabilityConfig(_Section):
    """Traces, metrics and logs (`gateway.observability`, docs/observability.md)."""

    enabled: bool = True
    """Off: no `/metrics`, no per-call log line, no spans, and no observing stage in the pipeline."""
    service_name: str = "rollgate"
    """`service.name` of the spans' resource."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint (`http://collector:4318/v1/traces`). Unset: no exporter and no span
    is recorded; a client's trace context is passed upstream unchanged."""
    otlp_headers: dict[str, str] = {}
    """Headers sent with each export (a collector's API key)."""
    metrics_public: bool = False
    """`/metrics` without a token (a scraper on a trusted network); otherwise it needs the bearer
    token whose SHA-256 is `metrics_token_sha256`, and with neither it is refused."""
    metrics_token_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    log_format: Literal["auto", "json", "console"] = "auto"
    """`auto`: JSON lines when stderr is not a terminal, the console renderer when it is."""


class LoopGuardConfig(_Section):
    """Runaway loops (`gateway.guards.loops`): repeats of one tool within one workflow. The
    defaults stop a loop of mutations early and never an agent that polls or works through a list."""

    enabled: bool = True
    window_seconds: Annotated[float, Field(gt=0)] = 60.0
    same_call: Annotated[int, Field(ge=0)] = 5
    """Mutating calls of one tool with the same canonical arguments in the window; the next is
    refused (0: no limit). A retry of a mutation happens once or twice; six a minute is a loop."""
    same_tool: Annotated[int, Field(ge=0)] = 600
    """Mutating calls of one tool with any arguments in the window (a near-duplicate loop): ten a
    second for a minute. An agent working through a list at 20 calls a second, a quarter of them
    writes, stays far below it; a loop that varies its arguments is stopped within the window."""
    read_same_call: Annotated[int, Field(ge=0)] = 1200
    """The same for read_only tools: an agent polling one read 20 times a second for a minute
    passes; a stuck agent repeating one read faster than that is refused until its window frees."""
    read_same_tool: Annotated[int, Field(ge=0)] = 0
    """Reads of one tool with any arguments: no limit by default (the rate limit bounds them)."""
    quarantine: bool = True
    """A tripped loop of mutations also quarantines its workflow (the default policy's `quarantine`
    obligation); a loop of reads is refused until its window frees."""


class BudgetGuardConfig(_Section):
    """Budgets (`gateway.guards.budgets`); their limits are policy data, `data.rollgate.budgets`."""

    enabled: bool = True


class RateLimitConfig(_Section):
    rate: Annotated[float, Field(ge=0)] = 50.0
    """Calls a second, sustained (0: no limit)."""
    burst: Annotated[float, Field(ge=1)] = 200.0


class RateGuardConfig(_Section):
    """Token buckets (`gateway.guards.rates`) per principal and per principal and tool. A refused
    call answers `retry_after`; nothing locks out."""

    enabled: bool = True
    principal: RateLimitConfig = RateLimitConfig()
    tool: RateLimitConfig = RateLimitConfig()
    tools: dict[str, RateLimitConfig] = {}
    """Limits for some tools, by `server/tool` glob (first match), instead of `tool`."""


class BreakersConfig(_Section):
    """`[guards.breakers]`: circuit breakers (`gateway.guards.breakers`). An upstream whose calls
    fail `failures` times in a row (transport errors, timeouts, protocol errors) is not called for
    `cooldown_seconds`; then one probe call decides. A principal's calls of one tool that answer
    an error `tool_failures` times in a row stop the same way (an agent hammering a failing tool).
    A compensation that fails `compensation_failures` times in a row is escalated to a person
    instead of being tried again, for `compensation_cooldown_seconds`."""

    enabled: bool = True
    failures: Annotated[int, Field(ge=1)] = 5
    cooldown_seconds: Annotated[float, Field(gt=0)] = 30.0
    tool_failures: Annotated[int, Field(ge=1)] = 10
    compensation_failures: Annotated[int, Field(ge=1)] = 3
    compensation_cooldown_seconds: Annotated[float, Field(gt=0)] = 300.0


class LeasesConfig(_Section):
    """`[guards.leases]`: resource leases (`gateway.guards.leases`). A mutating call of one
    workflow on a blast-radius key another workflow's call is mutating waits up to `wait_seconds`
    (`mode = "wait"`) or is refused at once (`"refuse"`); a manifest's `lease` overrides both."""

    enabled: bool = True
    mode: Literal["wait", "refuse"] = "wait"
    wait_seconds: Annotated[float, Field(ge=0, le=50)] = 10.0
    """Below clients' own call timeouts (60–120 s), like `approvals.wait_seconds`."""


class GuardsConfig(_Section):
    """`[guards]`: what stops a runaway agent early (`gateway.guards`)."""

    loops: LoopGuardConfig = LoopGuardConfig()
    budgets: BudgetGuardConfig = BudgetGuardConfig()
    rates: RateGuardConfig = RateGuardConfig()
    breakers: BreakersConfig = BreakersConfig()
    leases: LeasesConfig = LeasesConfig()


class PathsConfig(_Section):
    policies: Path | None = None
    """The policy directory; unset, the default policy packaged with Rollgate (`gateway.defaults`)."""
    manifests: Path = Path("tool_manifests")
    state_dir: Path = Path(".rollgate")


class Config(BaseSettings):
    """The whole configuration. Environment variables override the file: ROLLGATE_SERVER__PORT=9000."""

    model_config = SettingsConfigDict(env_prefix="ROLLGATE_", env_nested_delimiter="__", extra="forbid", frozen=True)

    server: ServerConfig = ServerConfig()
    auth: AuthConfig = AuthConfig()
    stdio: StdioConfig = StdioConfig()
    namespace: NamespaceConfig = NamespaceConfig()
    paths: PathsConfig = PathsConfig()
    policy: PolicyConfig = PolicyConfig()
    ledger: LedgerConfig = LedgerConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    approvers: list[ApproverConfig] = []
    workflows: WorkflowsConfig = WorkflowsConfig()
    limits: LimitsConfig = LimitsConfig()
    observability: ObservabilityConfig = ObservabilityConfig()
    guards: GuardsConfig = GuardsConfig()
    upstreams: list[UpstreamConfig] = []
    agents: list[AgentConfig] = []
    base_dir: Path = Path(".")
    """Directory that relative paths are resolved against (the config file's directory)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def _names_are_unique(self) -> Self:
        seen: set[str] = set()
        for index, upstream in enumerate(self.upstreams):
            if upstream.name in seen:
                raise ValueError(f"upstreams[{index}].name: {upstream.name!r} is used twice")
            seen.add(upstream.name)
        hashes = [agent.token_sha256 for agent in self.agents] + [a.token_sha256 for a in self.approvers]
        if len(hashes) != len(set(hashes)):
            raise ValueError("agents/approvers: two identities share one token")
        agent_ids = {agent.id for agent in self.agents}
        for index, approver in enumerate(self.approvers):
            if approver.id in agent_ids:
                raise ValueError(f"approvers[{index}].id: {approver.id!r} is also an agent; approvers must be people")
        return self

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @model_validator(mode="after")
    def _upstream_cwd_is_relative_to_the_file(self) -> Self:
        for index, upstream in enumerate(self.upstreams):
            if upstream.cwd is not None and not Path(upstream.cwd).is_absolute():
                fixed = upstream.model_copy(update={"cwd": str((self.base_dir / upstream.cwd).resolve())})
                self.upstreams[index] = fixed
        return self

    @property
    def state_dir(self) -> Path:
        return self.resolve(self.paths.state_dir)

    @property
    def policies_dir(self) -> Path:
        """`paths.policies`, or the packaged default policy when the configuration names none."""
        return default_policies() if self.paths.policies is None else self.resolve(self.paths.policies)


def new_token() -> str:
    """A new bearer token (192 bits from `secrets`); only its `hash_token` is ever written down."""
    return "rg_" + secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """The form in which bearer tokens are stored in configuration."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_config(path: Path | None, **overrides: Any) -> Config:
    """Load and validate the configuration; every error names its key."""
    data: dict[str, Any] = {}
    where = "configuration"
    if path is not None:
        where = str(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        data.setdefault("base_dir", str(path.resolve().parent))
    data.update(overrides)
    try:
        return Config(**data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: " + "; ".join(_describe(err) for err in exc.errors())) from None


def _describe(error: Any) -> str:
    key = ""
    for part in error["loc"]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}" if key else message
