"""How the REST API under /api answers: errors as JSON `{"error": ...}`, bodies read into their models.

Every answer has a status the OpenAPI document (`openapi.py`) lists for its operation. A body that
is not JSON, nested past the parser's limit, not a JSON object or not its model is a 422 naming the
first problem, never a 500; so is a path no route serves (a JSON 404) or a method it does not (405).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.errors import InvalidArgumentsError, NotFoundError

Body = TypeVar("Body", bound=BaseModel)


def error(status: int, message: str) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="rollgate-approvals"'} if status == 401 else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def read_body(request: Request, model: type[Body]) -> Body | JSONResponse:
    """The request's JSON body as `model` (no body reads as `{}`), or the 422 to answer.

    Parsed by pydantic straight from the bytes: its parser has a nesting limit and refuses lone
    surrogates, which `json.loads` would pass on to SQLite and the response encoder (both fail)."""
    try:
        return model.model_validate_json(await request.body() or b"{}")
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        return error(422, f"invalid body: {where + ': ' if where else ''}{first['msg']}")


def refusals(handler: Callable[[Request], Awaitable[JSONResponse]]) -> Callable[[Request], Awaitable[JSONResponse]]:
    """The endpoint answering `handler`'s named refusals: NotFoundError 404, InvalidArgumentsError 422."""

    async def endpoint(request: Request) -> JSONResponse:
        try:
            return await handler(request)
        except NotFoundError as exc:
            return error(404, exc.message)
        except InvalidArgumentsError as exc:
            return error(422, exc.message)

    return endpoint


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (no such route, method not allowed) in the API's error shape."""
    assert isinstance(exc, HTTPException)
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
