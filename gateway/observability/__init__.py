"""Observability: OpenTelemetry traces, Prometheus metrics and structured logs for the gateway.

Nothing here decides anything: the pipeline, the ledger and the edges report to it. With nothing
configured, no span is recorded (no exporter, no tracer provider), metrics are counted and served
at `/metrics` (behind a token unless `metrics_public`), and each call writes one log line at INFO.
The package imports nothing heavy itself: `rollgate --help` loads no OpenTelemetry, prometheus or
structlog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.lazy import lazy_names

if TYPE_CHECKING:
    from gateway.observability.instruments import CallWatch, Observability
    from gateway.observability.logging import CallLog, configure_logging
    from gateway.observability.metrics import BreakerState, Metrics
    from gateway.observability.tracing import Tracing

__all__ = ["BreakerState", "CallLog", "CallWatch", "Metrics", "Observability", "Tracing", "configure_logging"]

__getattr__ = lazy_names(
    __name__,
    {
        "BreakerState": "metrics",
        "CallLog": "logging",
        "CallWatch": "instruments",
        "Metrics": "metrics",
        "Observability": "instruments",
        "Tracing": "tracing",
        "configure_logging": "logging",
    },
)
