"""Webhook notifications of new pending approvals: Slack-compatible JSON, retried with backoff.

Sending happens in the background; a failing webhook is logged and never blocks the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import httpx
import stamina
from anyio.abc import TaskGroup

from gateway.approvals.ticket import Ticket

logger = logging.getLogger(__name__)


def message(ticket: Ticket, page: str | None) -> dict[str, object]:
    awaiting = "; ".join(ticket.awaiting()) or "a decision"
    link = f" <{page.rstrip('/')}/approvals#{ticket.id}|Open>" if page else ""
    text = (
        f":warning: *{ticket.principal}* wants to run `{ticket.tool}` (workflow {ticket.workflow}). "
        f"Needs {awaiting}. Why: {'; '.join(ticket.reasons)}. Approval `{ticket.id}`.{link}"
    )
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class Notifier:
    def __init__(self, urls: Sequence[str], page: str | None, task_group: TaskGroup) -> None:
        self._urls = list(urls)
        self._page = page
        self._tg = task_group
        self._client = httpx.AsyncClient(timeout=5.0)

    async def announce(self, ticket: Ticket) -> None:
        for url in self._urls:
            self._tg.start_soon(self._post, url, message(ticket, self._page))

    async def _post(self, url: str, body: dict[str, object]) -> None:
        try:
            async for attempt in stamina.retry_context(on=httpx.HTTPError, attempts=5, timeout=60.0):
                with attempt:
                    response = await self._client.post(url, json=body)
                    response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.warning("approval webhook %s failed after retries: %s", url, exc)
        except anyio.get_cancelled_exc_class():
            raise

    async def aclose(self) -> None:
        await self._client.aclose()
