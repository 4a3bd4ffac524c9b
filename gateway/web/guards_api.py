"""The kill switch and pinned tool definitions over REST, for operators (approver tokens).

GET  /api/stop                          who is stopped, by whom, since when, why
POST /api/stop    {"all": true | "agent": "A", "reason"}   refuse every new call of all, or of A
POST /api/resume  {"all": true | "agent": "A"}             lift that stop
GET  /api/tools/changed                 held tools: pinned and new digests and definitions, what changed
POST /api/tools/{server}/{tool}/accept  {"digest"?}        pin the held definition: calls may run again

An agent's token is refused (403) and the attempt is ledgered (`operator.refused`, naming the
agent), as an agent trying to lift its own stop is worth knowing about; a request with no token or
an unknown one is refused (401) unrecorded, so that no one on the network can fill the ledger.
An agent that is neither configured nor seen is a 404 (a typo must not stop no one), as is a tool
with no held change; a digest that is no longer the held one is a 409.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.errors import NotFoundError, StaleDefinitionError
from gateway.guards.pins import Pins
from gateway.guards.stop import StopSwitch
from gateway.ledger.events import Record, ToolDefinitionAccepted
from gateway.web.guard_views import AcceptBody, AcceptedView, ResumeBody, StopAnswer, StopBody
from gateway.web.operators import Operators, OperatorTokens
from gateway.web.replies import error, refusals

Accept = Callable[[str, str, str, str | None], Awaitable[ToolDefinitionAccepted]]
"""(server, tool, operator, digest reviewed) → the held definition pinned, recorded and listed."""


class GuardsApi:
    def __init__(
        self,
        switch: StopSwitch,
        pins: Pins,
        accept: Accept,
        tokens: OperatorTokens,
        known: Callable[[str], bool],
        record: Record,
    ) -> None:
        self._switch = switch
        self._pins = pins
        self._accept = accept
        self._operators = Operators(tokens, record)
        self._known = known
        """Whether an agent id is configured or was ever seen."""
        self._record = record

    def routes(self) -> list[Route]:
        return [
            Route("/api/stop", self.show_stop, methods=["GET"]),
            Route("/api/stop", refusals(self.stop), methods=["POST"]),
            Route("/api/resume", refusals(self.resume), methods=["POST"]),
            Route("/api/tools/changed", self.changed, methods=["GET"]),
            Route("/api/tools/{server}/{tool}/accept", refusals(self.accept), methods=["POST"]),
        ]

    async def show_stop(self, request: Request) -> JSONResponse:
        who = await self._operators.who(request, "read the kill switch")
        return who if isinstance(who, JSONResponse) else JSONResponse(self._switch.state().model_dump(mode="json"))

    async def stop(self, request: Request) -> JSONResponse:
        asked = await self._operators.body(request, StopBody, "stop")
        if isinstance(asked, JSONResponse):
            return asked
        who, body = asked
        self._require(body.agent)
        stop, changed = await self._switch.stop(who.id, body.reason, body.agent)
        return self._answer(changed, stop)

    async def resume(self, request: Request) -> JSONResponse:
        asked = await self._operators.body(request, ResumeBody, "resume")
        if isinstance(asked, JSONResponse):
            return asked
        who, body = asked
        self._require(body.agent)
        lifted = await self._switch.resume(who.id, body.agent)
        return self._answer(lifted is not None, lifted)

    async def changed(self, request: Request) -> JSONResponse:
        who = await self._operators.who(request, "list changed tool definitions")
        return who if isinstance(who, JSONResponse) else JSONResponse(self._pins.state().model_dump(mode="json"))

    async def accept(self, request: Request) -> JSONResponse:
        server, tool = request.path_params["server"], request.path_params["tool"]
        asked = await self._operators.body(request, AcceptBody, f"accept the definition of {server}/{tool}")
        if isinstance(asked, JSONResponse):
            return asked
        who, body = asked
        try:
            accepted = await self._accept(server, tool, who.id, body.digest)
        except StaleDefinitionError as exc:
            return error(exc.status, str(exc))
        return JSONResponse(AcceptedView.model_validate(accepted.data()).model_dump(mode="json"))

    def _require(self, agent: str | None) -> None:
        if agent is not None and not self._known(agent):
            raise NotFoundError(f"no agent {agent!r}: it is not configured and was never seen")

    def _answer(self, changed: bool, stop: object) -> JSONResponse:
        answer = StopAnswer.model_validate({"changed": changed, "stop": stop, "state": self._switch.state()})
        return JSONResponse(answer.model_dump(mode="json"))
