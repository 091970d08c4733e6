"""Observability of the Starlette services (knowledge, handoff, archive, the demo shop): ``instrument(app, …)``
adds ``GET /metrics`` and one pure-ASGI middleware that, per HTTP request, takes or mints the request id
(``X-Request-Id``, echoed in the response), opens the server span continuing the caller's trace, and records
the latency under the route's template. ``bot.serve`` applies it to every service it starts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import tracing
from bot.logs import REQUEST_ID_HEADER, new_request_id, request_id, valid_request_id
from bot.metrics import UNMATCHED, MetricsConfig, exposition, observe_http
from bot.settings import Settings

_RID_HEADER = REQUEST_ID_HEADER.lower().encode()
METRICS_PATH = "/metrics"


def route_template(routes: Sequence[BaseRoute], scope: Scope, prefix: str = "") -> str:
    """The template of the route that serves ``scope`` (mounts joined), or ``<unmatched>``: a label from the
    application's own table, never from the request's path."""
    partial = None
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.NONE:
            continue
        if isinstance(route, Mount):
            if not route.routes:  # a mounted app without a route table: one label for all of it
                return f"{prefix}{route.path}/{{path:path}}"
            inner = route_template(route.routes, {**scope, **child}, prefix + route.path)
            if inner != UNMATCHED:
                return inner
            continue
        path = prefix + getattr(route, "path", "")
        if match is Match.FULL:
            return path or "/"
        partial = partial or path  # a known path with another method: 405 under its own template
    return partial or UNMATCHED


class Observe:
    """``scrape``: the ``/metrics`` route, called from here so that a service's own middleware (the demo shop's
    API key) never stands in front of it; its token is the metrics token."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], scrape: Route | None = None) -> None:
        self.app, self.routes, self.scrape = app, routes, scrape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # websockets live for hours: not a request latency
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        rid = valid_request_id(headers.get("x-request-id")) or new_request_id()
        token = request_id.set(rid)
        # the router rewrites root_path while it descends into mounts: match on what came in
        original = {"type": "http", "path": scope["path"], "root_path": scope.get("root_path", ""),
                    "method": scope["method"]}  # fmt: skip
        status, route = 500, UNMATCHED
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_RID_HEADER, rid.encode())]
            await send(message)

        target = self.scrape if self.scrape is not None and scope["path"] == METRICS_PATH else self.app
        try:
            with tracing.server_span(scope["method"], headers) as span:
                try:
                    await target(scope, receive, send_with_id)
                finally:
                    route = route_template(self.routes, original)
                    if span is not None:
                        tracing.annotate(span, scope["method"], route, status)
        finally:
            if self.scrape is not None:
                observe_http(scope["method"], route, status, time.perf_counter() - started)
            request_id.reset(token)


def metrics_route(config: MetricsConfig) -> Route:
    async def metrics(request: Request) -> Response:
        status, body, headers = await asyncio.to_thread(exposition, config, request.headers.get("authorization"))
        media = headers.pop("Content-Type")
        return Response(body, status, headers=headers, media_type=media)

    return Route(METRICS_PATH, metrics, methods=["GET"])


def instrument(app: Any, service: str, settings: Settings) -> Any:
    """``app`` with ``/metrics`` (unless ``metrics.enabled: false``) and the request middleware; tracing set up
    for ``service`` from the ``tracing`` settings."""
    cfg = MetricsConfig.from_mapping(settings.raw.get("metrics"))
    tracing.setup(settings.raw.get("tracing"), service)
    if not isinstance(app, Starlette):
        return app
    scrape = metrics_route(cfg) if cfg.enabled else None
    if scrape is not None:
        app.router.routes.insert(0, scrape)
    app.add_middleware(Observe, routes=app.router.routes, scrape=scrape)
    return app
