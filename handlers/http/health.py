"""`GET /healthz` and `GET /metrics` for load balancers and Prometheus."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HealthProbe = Callable[[], Awaitable[dict[str, bool]]]


def routes(probe: HealthProbe, render_metrics: Callable[[], bytes]) -> list[Route]:
    async def healthz(_request: Request) -> JSONResponse:
        """200 when every check passes, 503 naming the ones that fail."""
        checks = await probe()
        healthy = all(checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "checks": checks},
            status_code=200 if healthy else 503,
        )

    async def metrics(_request: Request) -> Response:
        body = await asyncio.to_thread(render_metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/healthz", healthz), Route("/metrics", metrics)]
