"""The log's side of c2sp.org/tlog-witness: submit a newly signed checkpoint to every witness.

`push` sends each witness `old <size>`, the consistency proof from that size (built from the
leaves) and the note. A witness that answers 409 with its own size (`text/x.tlog.size`: it last
cosigned another size, or the log does not know which) is asked once more from that size. Each
answer's cosignature is verified against the configured verifier key before it is returned; the
caller stores the lines (see `docs/witness.md`). Only network failures are retried (stamina), a
refusal never is: it is the witness saying the log misbehaved, or that it does not know the log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import anyio
import httpx
import stamina

from gateway.config import WitnessConfig
from gateway.errors import (
    CosignatureError,
    InconsistentCheckpoint,
    MalformedSubmission,
    NoteFormatError,
    ProofError,
    SizeConflict,
    UnknownLog,
    UntrustedCheckpoint,
    UnusableWitnessAnswer,
    WitnessError,
)
from gateway.ledger.merkle import consistency_proof
from gateway.witness.cosignature import verify_cosignature
from gateway.witness.protocol import ADD_CHECKPOINT, SIZE_CONTENT_TYPE, cosigned, encode_request, parse_size
from gateway.witness.signed_note import CheckpointText, parse_checkpoint, parse_note, parse_verifier_key

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Cosigned:
    witness: WitnessConfig
    size: int
    timestamp: int
    """When the witness cosigned (its cosignature's timestamp, unix seconds)."""
    lines: tuple[str, ...]
    """The verified cosignature line(s), each ending in a newline: append them to the note."""


@dataclass(frozen=True, slots=True)
class PushFailed:
    witness: WitnessConfig
    reason: str
    status: int | None = None
    """The witness's HTTP status, None when it could not be reached or its answer was unusable."""


PushResult = Cosigned | PushFailed


async def push(
    note: str,
    leaves: Sequence[bytes],
    witnesses: Sequence[WitnessConfig],
    *,
    old_sizes: Mapping[str, int] | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[PushResult]:
    """Submit `note` (signed over `leaves[:size]`) to each witness at once; one result each, in order.

    `old_sizes`: the size each witness (by `verifier_key`) last cosigned, if the caller knows it;
    otherwise 0, and the witness's 409 tells. Never raises for a witness's failure."""
    checkpoint = parse_checkpoint(parse_note(note).text)
    if len(leaves) < checkpoint.size:
        raise ValueError(f"the checkpoint has size {checkpoint.size} but only {len(leaves)} leaves were given")
    tree = leaves[: checkpoint.size]
    known = old_sizes or {}
    results: list[PushResult | None] = [None] * len(witnesses)
    async with _client(client, timeout) as http:

        async def one(index: int, witness: WitnessConfig) -> None:
            results[index] = await _push_one(http, note, checkpoint, tree, witness, known.get(witness.verifier_key, 0))

        async with anyio.create_task_group() as group:
            for index, witness in enumerate(witnesses):
                group.start_soon(one, index, witness)
    return [result for result in results if result is not None]


def push_blocking(
    note: str,
    leaves: Sequence[bytes],
    witnesses: Sequence[WitnessConfig],
    *,
    old_sizes: Mapping[str, int] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[PushResult]:
    """`push` from a thread that has no running event loop (the CLI, a worker thread)."""
    return anyio.run(partial(push, note, leaves, witnesses, old_sizes=old_sizes, timeout=timeout))


def with_cosignatures(note: str, results: Sequence[PushResult]) -> str:
    """The note with every cosignature obtained appended: a checkpoint that verifies offline."""
    return cosigned(note, [line for result in results if isinstance(result, Cosigned) for line in result.lines])


async def _push_one(
    http: httpx.AsyncClient,
    note: str,
    checkpoint: CheckpointText,
    leaves: Sequence[bytes],
    witness: WitnessConfig,
    old_size: int,
) -> PushResult:
    try:
        try:
            line = await _submit(http, note, leaves, witness, old_size)
        except SizeConflict as conflict:
            if conflict.known_size is None or conflict.known_size == old_size:
                raise
            line = await _submit(http, note, leaves, witness, conflict.known_size)
        return _verified(note, line, witness, checkpoint)
    except WitnessError as exc:
        return PushFailed(witness, f"refused: {exc}", exc.status)
    except UnusableWitnessAnswer as exc:
        return PushFailed(witness, str(exc), exc.status)
    except httpx.HTTPError as exc:
        return PushFailed(witness, f"unreachable: {type(exc).__name__}: {exc}")


_REFUSALS: dict[int, type[WitnessError]] = {
    400: MalformedSubmission,
    403: UntrustedCheckpoint,
    404: UnknownLog,
    409: SizeConflict,
    422: InconsistentCheckpoint,
}
"""tlog-witness's refusals, back from their HTTP statuses into the exceptions the witness raised."""


async def _submit(
    http: httpx.AsyncClient, note: str, leaves: Sequence[bytes], witness: WitnessConfig, old_size: int
) -> str:
    if old_size > len(leaves):
        raise UnusableWitnessAnswer(
            f"the witness has cosigned size {old_size}, but this checkpoint has {len(leaves)} entries: "
            "the log was cut or replaced since"
        )
    try:
        proof = consistency_proof(old_size, leaves) if 0 < old_size < len(leaves) else []
    except ProofError as exc:
        raise UnusableWitnessAnswer(str(exc)) from None
    response = await _post(http, witness.url.rstrip("/") + ADD_CHECKPOINT, encode_request(old_size, proof, note))
    if response.status_code == 200:
        return response.text
    if response.status_code == 409 and response.headers.get("content-type", "").startswith(SIZE_CONTENT_TYPE):
        try:
            known = parse_size(response.text)
        except ValueError as exc:
            raise UnusableWitnessAnswer(f"unreadable 409 answer: {exc}", 409) from None
        raise SizeConflict(f"the witness last cosigned size {known}", known)
    reason = response.text.strip()[:300]
    refusal = _REFUSALS.get(response.status_code)
    if refusal is None:
        raise UnusableWitnessAnswer(f"HTTP {response.status_code}: {reason}", response.status_code)
    raise refusal(f"HTTP {response.status_code}: {reason}")


@stamina.retry(on=httpx.TransportError, attempts=3, timeout=30.0, wait_initial=0.2, wait_max=2.0)
async def _post(http: httpx.AsyncClient, url: str, body: bytes) -> httpx.Response:
    return await http.post(url, content=body)


def _verified(note: str, body: str, witness: WitnessConfig, checkpoint: CheckpointText) -> Cosigned:
    try:
        cosigner = parse_verifier_key(witness.verifier_key)
        cosignature = verify_cosignature(parse_note(cosigned(note, body.splitlines(keepends=True))), cosigner)
    except (NoteFormatError, CosignatureError) as exc:
        raise UnusableWitnessAnswer(f"the witness's answer carries no valid cosignature: {exc}") from None
    return Cosigned(witness, checkpoint.size, cosignature.timestamp, (cosignature.line,))


@asynccontextmanager
async def _client(client: httpx.AsyncClient | None, timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    """The caller's client (kept open; a test passes one over an `httpx.MockTransport`), or a new one."""
    if client is not None:
        yield client
        return
    async with httpx.AsyncClient(timeout=timeout) as own:
        yield own
