"""Observability: OpenTelemetry traces, Prometheus metrics and structured logs for the gateway.

Nothing here decides anything: the pipeline, the ledger and the edges report to it. With nothing
configured, traces are recorded nowhere (no exporter) and metrics are only served at `/metrics`.
"""
