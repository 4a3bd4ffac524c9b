"""The SDK internals `gateway/_sdk.py` relies on are still there: a new SDK release that moves them
fails here, by name, before any end-to-end test fails obscurely."""

from __future__ import annotations

import inspect
import re
from typing import get_type_hints

from mcp.server.session import ServerSession
from mcp.shared.dispatcher import CallOptions
from mcp_types import methods

from gateway._sdk import send_client_request, unguessable_request_id


def test_the_dispatcher_takes_a_callers_request_id() -> None:
    assert "request_id" in get_type_hints(CallOptions)


def test_a_server_session_holds_the_two_channels_send_request_uses() -> None:
    source = inspect.getsource(ServerSession.send_request)
    assert "self._request_outbound" in source and "self._connection.outbound" in source
    assert "validate_client_result" in source and callable(methods.validate_client_result)
    assert inspect.iscoroutinefunction(send_client_request)


def test_request_ids_are_unguessable_and_distinct() -> None:
    ids = {unguessable_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(re.fullmatch(r"rollgate-[0-9a-f]{24}", i) for i in ids)
