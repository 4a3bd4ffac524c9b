"""Where Rollgate reaches past the MCP SDK's public surface: each reach is here, named, and tested
(`tests/unit/test_sdk_seam.py`), so a new SDK release breaks this module and its test, not the
gateway. `pyproject.toml` pins the SDK's minor version for the same reason.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from typing import Any

from mcp.server.session import ServerSession
from mcp_types import methods


def unguessable_request_id() -> str:
    """An id for a server-to-client request that no other client can guess and answer."""
    return f"rollgate-{secrets.token_hex(12)}"


async def send_client_request(
    session: ServerSession, method: str, params: Mapping[str, Any] | None, *, request_scoped: bool
) -> dict[str, Any]:
    """`ServerSession.send_request`, under an unguessable id instead of the dispatcher's counter.

    The SDK numbers a session's server-to-client requests 1, 2, 3...: an agent able to post on
    another's session (the session guard refuses it; this is the second wall) could answer that
    session's elicitation by guessing the id. The dispatcher takes a caller's id through
    `CallOptions["request_id"]`, but `send_request` passes none, so the channel is taken here the
    way `send_request` takes it, and the result is checked the way it checks it.
    """
    channel = session._request_outbound if request_scoped else session._connection.outbound
    options: Any = {"request_id": unguessable_request_id()}
    result = await channel.send_raw_request(method, params, options)
    with contextlib.suppress(KeyError):  # a method the SDK has no result type for: passed on as it came
        methods.validate_client_result(method, session.protocol_version, result)
    return result
