"""The gateway's observability, built once from `[observability]`: tracing, metrics, the call log.

The pipeline's observing stage (`gateway.pipeline.observe`) reports every call to it; the
ledger reports its durable writes (`Ledger.on_write`), the composition root the rollbacks and,
when the guards exist, their trips and breakers (`Metrics.guard_tripped`, `Metrics.read_breakers`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.sdk.trace.export import SpanExporter

from gateway.config import ObservabilityConfig
from gateway.observability.logging import CallLog
from gateway.observability.metrics import Metrics
from gateway.observability.tracing import Span, Tracing

__all__ = ["CallWatch", "Observability"]


class Observability:
    def __init__(self, config: ObservabilityConfig, tracing: Tracing) -> None:
        self.config = config
        self.tracing = tracing
        self.metrics = Metrics()
        self.calls = CallLog()

    @classmethod
    def from_config(cls, config: ObservabilityConfig, exporter: SpanExporter | None = None) -> Observability:
        """`exporter`: where spans go instead of OTLP (a test's `InMemorySpanExporter`)."""
        return cls(config, Tracing.from_config(config, exporter))

    def close(self) -> None:
        self.tracing.shutdown()


@dataclass(slots=True)
class CallWatch:
    """What the observing stage keeps of one call while it runs through the stages."""

    span: Span | None = None
    """The call's `execute_tool` span, when spans are recorded."""
    context: Context | None = None
    """The context holding that span: the parent of the stages' spans."""
    inner: list[float] = field(default_factory=list)
    """Per stage now running, the seconds spent so far in the stages after it."""
    spans: list[tuple[Span, object | None] | None] = field(default_factory=list)
    """Per stage now running, its open span and the context token it attached, if any."""
