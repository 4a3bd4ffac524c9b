"""`Tracing`: a provider only when spans go somewhere; the caller's context read from `_meta`."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.config import ObservabilityConfig
from gateway.observability.tracing import Tracing, incoming_context

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_without_an_endpoint_or_exporter_no_span_is_recorded() -> None:
    assert not Tracing.from_config(ObservabilityConfig()).recording
    assert not Tracing.from_config(ObservabilityConfig(enabled=False), InMemorySpanExporter()).recording


def test_an_otlp_endpoint_makes_a_provider_of_the_gateways_own() -> None:
    tracing = Tracing.from_config(ObservabilityConfig(otlp_endpoint="http://127.0.0.1:9/v1/traces"))
    try:
        assert tracing.recording
        assert tracing.provider is not trace.get_tracer_provider()
    finally:
        tracing.shutdown()


def test_spans_go_to_the_exporter_given_under_the_callers_context() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing.from_config(ObservabilityConfig(service_name="gw"), exporter)
    tracing.start("s", incoming_context({"traceparent": TRACEPARENT})).end()
    (span,) = exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert span.resource.attributes["service.name"] == "gw"


def test_a_missing_or_malformed_traceparent_is_no_context() -> None:
    assert incoming_context({}) is None
    assert incoming_context({"traceparent": "nonsense"}) is None
    assert incoming_context({"traceparent": 5}) is None
    assert incoming_context({"traceparent": TRACEPARENT}) is not None
