"""The witness's HTTP answers: statuses, the text/x.tlog.size conflict body, and the GET extension."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.ledger.merkle import consistency_proof
from gateway.witness.cosigner import Cosigner
from gateway.witness.protocol import encode_request
from gateway.witness.server import witness_app
from tests.unit.witness.conftest import Log, make_log

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http(cosigner: Cosigner) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=witness_app(cosigner))
    async with httpx.AsyncClient(transport=transport, base_url="http://witness.test") as client:
        yield client


async def add(http: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await http.post("/add-checkpoint", content=body)


async def test_a_cosigned_checkpoint_is_answered_with_its_signature_line(http: httpx.AsyncClient, log: Log) -> None:
    answer = await add(http, encode_request(0, [], log.note(8)))
    assert answer.status_code == 200
    assert answer.text.startswith("\u2014 rollgate.local/witness ") and answer.text.endswith("\n")
    assert answer.text.count("\n") == 1


async def test_a_stale_old_size_is_answered_409_with_the_size_as_text_x_tlog_size(
    http: httpx.AsyncClient, log: Log
) -> None:
    await add(http, encode_request(0, [], log.note(8)))
    answer = await add(http, encode_request(0, [], log.note(12)))
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "text/x.tlog.size"
    assert answer.text == "8\n"


async def test_an_inconsistent_checkpoint_is_answered_422(http: httpx.AsyncClient, log: Log) -> None:
    await add(http, encode_request(0, [], log.note(8)))
    forged = log.rewritten(2)
    answer = await add(http, encode_request(8, consistency_proof(8, forged[:12]), log.note(12, leaves=forged)))
    assert answer.status_code == 422


@pytest.mark.parametrize(
    "body, status",
    [(b"", 400), (b"old 1\n", 400), (b"old 0\n\nnot a note\n", 400), (b"old 0\n\n" + b"x" * 300_000, 400)],
)
async def test_a_malformed_body_is_answered_400(http: httpx.AsyncClient, body: bytes, status: int) -> None:
    assert (await add(http, body)).status_code == status


async def test_an_unknown_log_is_404_and_a_wrong_key_403(http: httpx.AsyncClient, log: Log) -> None:
    assert (await add(http, encode_request(0, [], make_log("other/log").note(3)))).status_code == 404
    impostor = make_log(log.origin)
    assert (await add(http, encode_request(0, [], impostor.note(3)))).status_code == 403


async def test_only_post_reaches_add_checkpoint(http: httpx.AsyncClient) -> None:
    assert (await http.get("/add-checkpoint")).status_code == 405


async def test_the_get_extension_returns_the_latest_cosigned_note_of_an_url_encoded_origin(
    http: httpx.AsyncClient, log: Log
) -> None:
    assert (await http.get("/checkpoint/test.example%2Flog")).status_code == 404
    line = (await add(http, encode_request(0, [], log.note(8)))).text
    answer = await http.get("/checkpoint/test.example%2Flog")
    assert answer.status_code == 200
    assert answer.text == log.note(8) + line
