"""The witness over HTTP: `POST /add-checkpoint` (c2sp.org/tlog-witness) and one Rollgate extension.

    GET /checkpoint/<origin, URL-encoded>   the latest checkpoint cosigned for that log: the log's
                                            note with this witness's cosignature line appended

tlog-witness has no read API yet (its "monitor retrieval mechanism" is TBD); `rollgate ledger
verify --witness` needs one to compare the local ledger with what a witness saw, so this server
offers it. It is not in the spec, and other witnesses will not have it. This is the edge where a
`WitnessError` becomes an HTTP status.
"""

from __future__ import annotations

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from gateway.errors import MalformedSubmission, SizeConflict, WitnessError
from gateway.witness.cosigner import Cosigner
from gateway.witness.protocol import ADD_CHECKPOINT, MAX_BODY_BYTES, SIZE_CONTENT_TYPE, encode_size

_TEXT = "text/plain; charset=utf-8"


def witness_app(cosigner: Cosigner) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        try:
            body = await _body(request)
            # The compare-and-set and its fsync block: off the event loop, as every store write is.
            line = await anyio.to_thread.run_sync(cosigner.add_checkpoint, body)
        except WitnessError as exc:
            return refusal(exc)
        return PlainTextResponse(line, media_type=_TEXT)

    async def checkpoint(request: Request) -> Response:
        origin = request.path_params["origin"]
        note = await anyio.to_thread.run_sync(cosigner.latest, origin)
        if note is None:
            return PlainTextResponse(f"no checkpoint of {origin} was cosigned here\n", 404, media_type=_TEXT)
        return PlainTextResponse(note, media_type=_TEXT)

    return Starlette(
        routes=[
            Route(ADD_CHECKPOINT, add_checkpoint, methods=["POST"]),
            Route("/checkpoint/{origin:path}", checkpoint, methods=["GET"]),
        ]
    )


def refusal(exc: WitnessError) -> Response:
    """The one mapping of a refusal to its answer; a stale old size carries the witness's size."""
    if isinstance(exc, SizeConflict) and exc.known_size is not None:
        # Exactly this content type, with no charset parameter: clients compare it whole.
        return Response(encode_size(exc.known_size), exc.status, headers={"content-type": SIZE_CONTENT_TYPE})
    return PlainTextResponse(f"{exc}\n", exc.status, media_type=_TEXT)


async def _body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MalformedSubmission(f"the body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def serve(cosigner: Cosigner, host: str, port: int) -> None:
    """Serve until interrupted (SIGINT/SIGTERM stop uvicorn gracefully)."""
    config = uvicorn.Config(witness_app(cosigner), host=host, port=port, log_level="warning", lifespan="off")
    uvicorn.Server(config).run()
