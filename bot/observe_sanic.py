"""Observability of the Sanic servers (the action server on Sanic 25, the Rasa server on Sanic 21.12): the same
as ``bot.observe`` does for Starlette — request id, server span, latency by route template, ``GET /metrics``.

``instrument`` must run before any other request middleware is registered: ours is then the first, so it
times and traces requests an auth guard refuses too, and answers ``/metrics`` itself (with the metrics token
when one is set) before guards meant for the service's own API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sanic import response
from sanic.request import Request

from bot import tracing
from bot.logs import REQUEST_ID_HEADER, accept_request_id
from bot.metrics import UNMATCHED, MetricsConfig, exposition, observe_http
from bot.settings import Settings

METRICS_PATH = "/metrics"


def route_template(request: Request) -> str:
    route = getattr(request, "route", None)
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    return "/" + path.lstrip("/")


def instrument(app: Any, service: str, settings: Settings) -> Any:
    cfg = MetricsConfig.from_mapping(settings.raw.get("metrics"))
    tracing.setup(settings.raw.get("tracing"), service)

    async def scrape(request: Request) -> Any:
        status, body, headers = await asyncio.to_thread(exposition, cfg, request.headers.get("authorization"))
        return response.raw(body, status=status, headers={k: v for k, v in headers.items() if k != "Content-Type"},
                            content_type=headers["Content-Type"])  # fmt: skip

    async def on_request(request: Request) -> Any:
        request.ctx.csbot_started = time.perf_counter()
        request.ctx.csbot_rid = accept_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.ctx.csbot_span = tracing.start_server_span(f"{request.method} {route_template(request)}",
                                                           request.headers)  # fmt: skip
        if cfg.enabled and request.path == METRICS_PATH and request.method == "GET":
            return await scrape(request)
        return None

    async def on_response(request: Request, resp: Any) -> None:
        route = route_template(request)
        status = int(getattr(resp, "status", 500) or 500)
        rid = getattr(request.ctx, "csbot_rid", None)
        if rid and resp is not None:
            resp.headers[REQUEST_ID_HEADER] = rid
        tracing.finish(getattr(request.ctx, "csbot_span", None), request.method, route, status)
        request.ctx.csbot_span = None
        started = getattr(request.ctx, "csbot_started", None)
        if cfg.enabled:
            observe_http(request.method, route, status, None if started is None else time.perf_counter() - started)

    app.register_middleware(on_request, "request")
    app.register_middleware(on_response, "response")
    if cfg.enabled:
        app.add_route(scrape, METRICS_PATH, methods=["GET"], name="csbot_metrics")
    return app
