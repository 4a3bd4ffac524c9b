"""`GET /metrics`: the gateway's Prometheus registry, behind a token unless made public.

Fails closed: with neither `[observability] metrics_token_sha256` nor `metrics_public = true`
the endpoint answers 403 and says which key to set. With a token, Prometheus scrapes with
`authorization: {credentials: ...}` (a bearer token); the comparison is of SHA-256 digests, in
constant time, like the agents' tokens.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.observability import Observability


def metrics_route(observability: Observability) -> Route:
    from gateway.observability.metrics import CONTENT_TYPE_LATEST

    config = observability.config
    metrics = observability.metrics

    async def endpoint(request: Request) -> Response:
        if not config.metrics_public:
            if config.metrics_token_sha256 is None:
                return JSONResponse(
                    {
                        "error": "metrics are not public: set [observability] metrics_token_sha256 "
                        "(a scraper's bearer token) or metrics_public = true"
                    },
                    status_code=403,
                )
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            digest = hashlib.sha256(token.strip().encode()).hexdigest()
            if scheme.lower() != "bearer" or not hmac.compare_digest(digest, config.metrics_token_sha256):
                return JSONResponse(
                    {"error": "a bearer token is required"},
                    status_code=401,
                    headers={"www-authenticate": 'Bearer realm="rollgate-metrics"'},
                )
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", endpoint=endpoint, methods=["GET"])
