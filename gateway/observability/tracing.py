"""OpenTelemetry traces: the gateway's own tracer provider, and the spans of one call.

The provider is the gateway's, never the process-wide one (`trace.set_tracer_provider` can be set
once per process, and tests build many gateways). It exists only when spans go somewhere: an
OTLP/HTTP exporter when `[observability] otlp_endpoint` is set, or an exporter a test hands in.
Otherwise `Tracing.recording` is false and the pipeline opens no span at all: a client's
`traceparent` then reaches the upstream unchanged (it travels in the forwarded `_meta`), so the
upstream's spans still join the client's trace instead of pointing at a parent never exported.

Span shapes (OpenTelemetry GenAI semantic conventions, "execute_tool" spans, and the MCP
conventions of the same repository, both at Development stability):

    execute_tool <tool>      SERVER   gen_ai.operation.name, gen_ai.tool.name, gen_ai.tool.call.id
                                      (the call's correlation id), mcp.method.name, mcp.session.id,
                                      rollgate.* (principal, workflow, decision, outcome)
      policy evaluate        INTERNAL rollgate.decision.effect
      ledger append          INTERNAL rollgate.ledger.event (call.intent or the outcome's kind)
      approval wait          INTERNAL
      tools/call <tool>      CLIENT   the upstream call; current while it is sent, so the SDK's
                                      (or the stdio wire's) SEP-414 injection puts this span in the
                                      forwarded request's `_meta.traceparent`
    rollback                 INTERNAL a rollback the call's outcome started (atomic workflow, policy
                                      obligation), under the call's span
      execute_tool <tool>    SERVER   each compensation and verification read: a call of its own
                                      (`rollgate.internal`, `rollgate.compensation`)

A call's arguments and results are never attributes: they may hold secrets.

The MCP SDK wraps every request it serves in a span of its own (`mcp.server._otel`); the gateway
removes that middleware (`gateway.server.build`), so there is one span per call, this one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from gateway.config import ObservabilityConfig

__all__ = ["TRACE_KEYS", "Span", "SpanKind", "Tracing", "incoming_context"]

TRACE_KEYS = ("traceparent", "tracestate")
"""W3C Trace Context carried in a request's `_meta` (MCP SEP-414) or in HTTP headers."""


class Tracing:
    """The gateway's tracer, or none when nothing would receive the spans."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("rollgate") if provider is not None else None

    @classmethod
    def from_config(cls, config: ObservabilityConfig, exporter: SpanExporter | None = None) -> Tracing:
        """An OTLP/HTTP exporter (batched, off the event loop) when `otlp_endpoint` is set; `exporter`
        (a test's `InMemorySpanExporter`, exported as each span ends) instead when given."""
        if not config.enabled or (exporter is None and not config.otlp_endpoint):
            return cls(None)
        provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            otlp = OTLPSpanExporter(endpoint=config.otlp_endpoint, headers=dict(config.otlp_headers) or None)
            provider.add_span_processor(BatchSpanProcessor(otlp))
        return cls(provider)

    @property
    def recording(self) -> bool:
        return self._tracer is not None

    def start(
        self,
        name: str,
        parent: Context | None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, Any] | None = None,
    ) -> Span:
        """A started span under `parent` (None: the current context). Not made current."""
        assert self._tracer is not None, "no spans are recorded without a tracer provider"
        return self._tracer.start_span(name, context=parent, kind=kind, attributes=attributes)

    @contextmanager
    def current(self, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span | None]:
        """A span under the current context, made current while the block runs (a rollback, whose
        compensations' calls become its children); None and nothing opened when not recording."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(name, attributes=attributes) as span:
            yield span

    def shutdown(self) -> None:
        """Flush what the exporter still holds (at most its own timeout) and stop it."""
        if self.provider is not None:
            self.provider.shutdown()


def incoming_context(meta: Mapping[str, Any]) -> Context | None:
    """The caller's trace context from a request's `_meta` (`traceparent`, `tracestate`), or None
    (absent or malformed: the call's span then starts a trace of its own)."""
    if "traceparent" not in meta:
        return None
    carrier = {key: meta[key] for key in TRACE_KEYS if isinstance(meta.get(key), str)}
    extracted = propagate.extract(carrier)
    return extracted if trace.get_current_span(extracted).get_span_context().is_valid else None


def in_context(span: Span, parent: Context | None = None) -> Context:
    return trace.set_span_in_context(span, parent)


def attach(ctx: Context) -> object:
    return otel_context.attach(ctx)


def detach(token: object) -> None:
    otel_context.detach(token)  # type: ignore[arg-type]


def failed(span: Span, error_type: str, description: str | None = None) -> None:
    """Mark a span failed with the `error.type` of the semantic conventions."""
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, description))
