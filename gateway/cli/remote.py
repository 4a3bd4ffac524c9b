"""How a command asks the running gateway over its REST API, as an operator.

The token comes from --token, else ROLLGATE_APPROVER_TOKEN; without one the command is a usage
error (exit status 2). What the gateway refuses, or a gateway that does not answer, is one line on
stderr and exit status 1. `httpx` is imported only when a request is made.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from gateway.config import Config


def ask(
    config: Config, method: str, path: str, body: dict[str, Any] | None, token: str | None, *, timeout: float = 60
) -> dict[str, Any] | int:
    """The gateway's JSON answer, or the exit status after saying on stderr what went wrong."""
    token = token or os.environ.get("ROLLGATE_APPROVER_TOKEN")
    if not token:
        print("rollgate: give an operator (approver) token: --token or ROLLGATE_APPROVER_TOKEN", file=sys.stderr)
        return 2
    import httpx

    url = f"http://{config.server.host}:{config.server.port}{path}"
    try:
        response = httpx.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        print(f"rollgate: the gateway at {url} did not answer: {exc}", file=sys.stderr)
        return 1
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.is_success and isinstance(answer, dict):
        return answer
    why = answer.get("error") if isinstance(answer, dict) else None
    print(f"rollgate: {why or f'the gateway answered {response.status_code}: {response.text[:200]}'}", file=sys.stderr)
    return 1
