"""`push`: cosignatures verified before they are returned, the 409 path, refusals and retries."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import stamina
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.config import WitnessConfig
from gateway.witness.client import Cosigned, PushFailed, push, with_cosignatures
from gateway.witness.cosignature import cosign
from gateway.witness.cosigner import Cosigner
from gateway.witness.protocol import parse_request
from gateway.witness.server import witness_app
from gateway.witness.signed_note import parse_note
from tests.unit.witness.conftest import Log

pytestmark = pytest.mark.anyio


@pytest.fixture
def sent() -> list[bytes]:
    """The bodies of the requests that reached the witness, in order."""
    return []


@pytest.fixture
async def http(cosigner: Cosigner, sent: list[bytes]) -> AsyncIterator[httpx.AsyncClient]:
    witness = httpx.ASGITransport(app=witness_app(cosigner))

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            sent.append(await request.aread())
            return await witness.handle_async_request(request)

    async with httpx.AsyncClient(transport=Recording()) as client:
        yield client


async def test_a_checkpoint_is_cosigned_and_the_verified_line_returned(
    http: httpx.AsyncClient, log: Log, witness: WitnessConfig
) -> None:
    (result,) = await push(log.note(10), log.leaves[:10], [witness], client=http)
    assert isinstance(result, Cosigned)
    assert (result.size, result.timestamp, len(result.lines)) == (10, 1_800_000_000, 1)
    assert with_cosignatures(log.note(10), [result]) == log.note(10) + result.lines[0]


async def test_a_log_that_does_not_know_the_witness_size_learns_it_from_the_409_and_proves_from_it(
    http: httpx.AsyncClient, sent: list[bytes], log: Log, witness: WitnessConfig
) -> None:
    await push(log.note(10), log.leaves, [witness], client=http)
    (result,) = await push(log.note(17), log.leaves, [witness], client=http)  # old size unknown: 0
    assert isinstance(result, Cosigned) and result.size == 17
    first, retried = (parse_request(body) for body in sent[-2:])
    assert (first.old_size, first.proof) == (0, ())
    assert retried.old_size == 10 and len(retried.proof) > 0


async def test_a_known_old_size_needs_one_request(
    http: httpx.AsyncClient, sent: list[bytes], log: Log, witness: WitnessConfig
) -> None:
    await push(log.note(10), log.leaves, [witness], client=http)
    sent.clear()
    (result,) = await push(log.note(17), log.leaves, [witness], client=http, old_sizes={witness.verifier_key: 10})
    assert isinstance(result, Cosigned) and len(sent) == 1


async def test_a_rewritten_log_is_refused_with_422_even_after_the_409(
    http: httpx.AsyncClient, log: Log, witness: WitnessConfig
) -> None:
    await push(log.note(10), log.leaves, [witness], client=http)
    forged = log.rewritten(3)
    (result,) = await push(log.note(12, leaves=forged), forged, [witness], client=http)
    assert isinstance(result, PushFailed) and result.status == 422
    assert "consistency proof" in result.reason


async def test_another_root_at_the_same_size_is_refused_as_a_conflict(
    http: httpx.AsyncClient, log: Log, witness: WitnessConfig
) -> None:
    await push(log.note(10), log.leaves, [witness], client=http)
    forged = log.rewritten(3)
    (result,) = await push(log.note(10, leaves=forged), forged, [witness], client=http)
    assert isinstance(result, PushFailed) and result.status == 409


async def test_a_witness_ahead_of_the_log_is_a_failure_not_a_proof(
    http: httpx.AsyncClient, log: Log, witness: WitnessConfig
) -> None:
    await push(log.note(20), log.leaves, [witness], client=http)
    (result,) = await push(log.note(12), log.leaves, [witness], client=http)
    assert isinstance(result, PushFailed) and "cut or replaced" in result.reason


def answering(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_a_forged_cosignature_in_the_answer_is_not_returned(log: Log, witness: WitnessConfig) -> None:
    name = witness.verifier_key.split("+")[0]

    def forger(request: httpx.Request) -> httpx.Response:
        text = parse_note(parse_request(request.content).note).text
        return httpx.Response(200, text=cosign(text, name, Ed25519PrivateKey.generate(), 5).line)

    async with answering(forger) as client:
        (result,) = await push(log.note(4), log.leaves, [witness], client=client)
    assert isinstance(result, PushFailed) and "no valid cosignature" in result.reason


async def test_a_cosignature_of_the_wrong_checkpoint_is_not_returned(
    cosigner: Cosigner, log: Log, witness: WitnessConfig
) -> None:
    other = parse_note(log.note(3)).text

    def replaying(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=cosign(other, cosigner.key.name, cosigner.key.private, 5).line)

    async with answering(replaying) as client:
        (result,) = await push(log.note(4), log.leaves, [witness], client=client)
    assert isinstance(result, PushFailed) and "does not verify" in result.reason


async def test_network_errors_are_retried_and_refusals_are_not(log: Log, witness: WitnessConfig) -> None:
    calls: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(404, text="unknown log\n")

    with stamina.set_testing(True, attempts=3):
        async with answering(flaky) as client:
            (result,) = await push(log.note(4), log.leaves, [witness], client=client)
    assert isinstance(result, PushFailed) and result.status == 404
    assert len(calls) == 3


async def test_an_unreachable_witness_is_a_failure_beside_the_others(
    http: httpx.AsyncClient, log: Log, witness: WitnessConfig
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with stamina.set_testing(True, attempts=2):
        async with answering(down) as client:
            (failed,) = await push(log.note(4), log.leaves, [witness], client=client)
    assert isinstance(failed, PushFailed) and failed.status is None and "unreachable" in failed.reason
    (ok,) = await push(log.note(4), log.leaves, [witness], client=http)
    assert isinstance(ok, Cosigned)


async def test_results_come_in_the_order_of_the_witnesses(
    http: httpx.AsyncClient, log: Log, witness: WitnessConfig
) -> None:
    unknown = WitnessConfig(url="http://witness.test", verifier_key=witness.verifier_key.replace("witness", "other"))
    key = base64.b64encode(b"\x04" + bytes(32)).decode()
    broken = WitnessConfig(url="http://witness.test", verifier_key=f"x+00000000+{key}")
    results = await push(log.note(4), log.leaves, [witness, unknown, broken], client=http)
    assert [type(result) for result in results] == [Cosigned, PushFailed, PushFailed]


async def test_too_few_leaves_for_the_checkpoint_is_a_programming_error(log: Log, witness: WitnessConfig) -> None:
    with pytest.raises(ValueError, match="only 3 leaves"):
        await push(log.note(4), log.leaves[:3], [witness])
