"""A REST body is its model or a 422 naming the problem, for any bytes; unknown routes answer JSON."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from gateway.web import http_error
from gateway.web.replies import read_body
from gateway.web.workflow_views import QuarantineBody


async def quarantine(request: Request) -> JSONResponse:
    body = await read_body(request, QuarantineBody)
    return body if isinstance(body, JSONResponse) else JSONResponse({"reason": body.reason})


CLIENT = TestClient(
    Starlette(routes=[Route("/q", quarantine, methods=["POST"])], exception_handlers={HTTPException: http_error})
)


def test_a_body_nested_too_deep_or_with_a_lone_surrogate_is_a_422_not_a_500() -> None:
    for raw in (b"[" * 100_000, b'{"reason": "\\ud800"}', b"\xff\xfe", b"null", b'{"reason": ""}', b'{"x": 1}'):
        answer = CLIENT.post("/q", content=raw)
        assert answer.status_code == 422 and answer.json()["error"].startswith("invalid body: "), raw[:20]
    assert "reason: Field required" in CLIENT.post("/q").json()["error"]  # no body reads as {}
    assert CLIENT.post("/q", json={"reason": "fraud"}).json() == {"reason": "fraud"}


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=64) | st.text(max_size=32).map(lambda t: json.dumps({"reason": t}).encode()))
def test_any_body_is_the_model_or_a_422(raw: bytes) -> None:
    answer = CLIENT.post("/q", content=raw)
    assert answer.status_code in (200, 422) and answer.headers["content-type"] == "application/json"


def test_an_unknown_path_or_method_answers_json() -> None:
    assert CLIENT.get("/nowhere").json() == {"error": "Not Found"}
    wrong = CLIENT.get("/q")
    assert wrong.status_code == 405 and wrong.json() == {"error": "Method Not Allowed"}
