"""`GET /metrics` fails closed: a configured token, or `metrics_public`, or 403."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from gateway.config import ObservabilityConfig, hash_token
from gateway.observability import Observability
from gateway.server.metrics_route import metrics_route


def client(**config: object) -> TestClient:
    observability = Observability.from_config(ObservabilityConfig(**config))  # type: ignore[arg-type]
    return TestClient(Starlette(routes=[metrics_route(observability)]))


def test_without_a_token_or_public_the_metrics_are_refused_and_the_answer_names_the_keys() -> None:
    answer = client().get("/metrics")
    assert answer.status_code == 403
    assert "metrics_token_sha256" in answer.json()["error"] and "metrics_public" in answer.json()["error"]


def test_the_configured_bearer_token_is_required() -> None:
    scraper = client(metrics_token_sha256=hash_token("scrape-me"))
    assert scraper.get("/metrics").status_code == 401
    assert scraper.get("/metrics", headers={"authorization": "Bearer other"}).status_code == 401
    answer = scraper.get("/metrics", headers={"authorization": "Bearer scrape-me"})
    assert answer.status_code == 200 and "# TYPE rollgate_calls_total counter" in answer.text


def test_public_metrics_need_no_token() -> None:
    answer = client(metrics_public=True).get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
