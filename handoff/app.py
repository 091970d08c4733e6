"""HTTP app of the handoff service (Starlette): staff log-in, the agent API and WebSocket, the internal routes
the action server and the Rasa server call, and the clock that runs timeouts and offers. Built by a factory
so tests create their own (and may pass their own customer channel and clock)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute

from bot import auth_api
from bot.crypto import cipher_from_settings
from bot.files.service import FileService
from bot.files.web import file_route
from bot.orders import create_order_service
from bot.ratelimit import Rate, create_rate_limiter
from bot.safety import create_filter
from bot.settings import Settings, load_settings
from bot.storage.db import Database
from bot.users import UserService
from bot.web import Auth, per_user_limit
from handoff import agent_api, inbox_web, internal_api
from handoff import metrics as handoff_metrics
from handoff.assignment import tick
from handoff.config import HandoffConfig
from handoff.hub import Hub
from handoff.live import create_live
from handoff.live.memory import MemoryLiveSessions
from handoff.openapi import document as openapi_document
from handoff.presence import create_presence
from handoff.privacy import api as privacy_api
from handoff.privacy import build_service as privacy_service
from handoff.redelivery import redeliver_due
from handoff.relay import RasaRelay
from handoff.reports import api as reports_api
from handoff.reports import web as reports_web
from handoff.search import api as search_api
from handoff.search import create_message_index
from handoff.search.service import MessageSearch
from handoff.service import CustomerChannel, HandoffService
from handoff.tickets import api as tickets_api
from handoff.ws import websocket_route
from knowledge.client import KnowledgeClient

log = logging.getLogger(__name__)
PER_USER = "600/min"
REDELIVERY_SECONDS = 2.0


async def health(request: Request) -> JSONResponse:
    db: Database = request.app.state.db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:  # health must answer, not raise
        db_ok = False
    body = {"status": "ok" if db_ok else "degraded", "database": db_ok}
    return JSONResponse(body, status_code=200 if db_ok else 503)


def create_app(settings: Settings | None = None, customer: CustomerChannel | None = None,
               clock: Callable[[], float] | None = None, run_clock: bool = True) -> Starlette:  # fmt: skip
    settings = settings or load_settings()
    cfg = HandoffConfig.from_mapping(settings.raw.get("handoff"))
    db = Database.from_settings(settings)
    handoff_metrics.register(db)  # queue length and active chats at every scrape
    users = UserService(db)
    auth = Auth(settings.keyring, users.is_revoked)
    backend = settings.backend("rate_limit")
    limiter = create_rate_limiter(backend)
    per_user = per_user_limit(limiter, Rate.parse(str(backend.get("per_user") or PER_USER)))
    relay = RasaRelay(settings) if customer is None else None
    knowledge = KnowledgeClient.from_settings(settings, "handoff", timeout=4.0)  # agent assist
    files = FileService.from_settings(settings)
    orders = create_order_service(settings)  # the context panel's orders
    presence_backend = settings.backend("presence")
    # several instances share presence in Redis: they share wake-ups there too
    hub = Hub(str(presence_backend.get("url")) if presence_backend.type == "redis" else None)
    presence = create_presence(presence_backend, cfg.heartbeat_ttl_seconds)
    live = create_live(presence_backend)  # ...and live session state
    if isinstance(live, MemoryLiveSessions) and db.engine.dialect.name != "sqlite":
        # a shared database may have other instances opening sessions this process never sees
        live = MemoryLiveSessions(trust_none=False)
    kwargs = {"clock": clock} if clock else {}
    svc = HandoffService(db, presence, cfg, customer or relay, hub.notify, live=live, safety=create_filter(settings),
                         **kwargs)  # type: ignore[arg-type]
    # message search reads the archiver's index (it never writes it: one writer per tantivy index)
    search = MessageSearch(create_message_index(settings), db, cipher_from_settings(settings))
    privacy = privacy_service(settings, db=db, live=live)  # customers' access and erasure requests (admin)

    async def run_tick() -> None:
        while True:
            await asyncio.sleep(cfg.tick_seconds)
            try:
                await asyncio.to_thread(tick, svc)
            except Exception:  # one bad tick (the database briefly away) must not stop the clock
                log.exception("handoff tick failed")

    async def run_redelivery() -> None:
        while True:
            await asyncio.sleep(REDELIVERY_SECONDS)
            try:
                await asyncio.to_thread(redeliver_due, svc)
            except Exception:  # the database briefly away: the next round tries again
                log.exception("handoff redelivery failed")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        hub.bind(loop)
        # the database work of many chats at once runs in threads (reads in parallel; SQLite serialises writes)
        loop.set_default_executor(ThreadPoolExecutor(max_workers=16, thread_name_prefix="handoff"))
        try:
            await asyncio.to_thread(svc.maintain_live)
        except Exception:  # Redis or the database away at start: lookups ask the database; the clock retries
            log.exception("live sessions not rebuilt at start")
        # redelivery on its own loop: a slow Rasa must not hold up offers and timeouts
        tasks = [asyncio.create_task(run_tick()), asyncio.create_task(run_redelivery())] if run_clock else []
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await hub.close()
        await limiter.close()
        presence.close()
        live.close()
        if relay is not None:
            relay.close()
        await knowledge.aclose()
        files.close()
        search.index.close()
        privacy.close()
        if hasattr(orders, "aclose"):  # a plugged-in adapter may hold nothing to close
            await orders.aclose()
        db.dispose()

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_document())

    app = Starlette(routes=[
        Route("/health", health),
        Route("/api/agent/openapi.json", openapi),
        Route("/files/{key:path}", file_route(files)),
        Mount("/api/auth", routes=auth_api.routes(settings, users, auth, limiter, per_user)),
        WebSocketRoute("/api/agent/ws", websocket_route(svc, auth, hub)),
        Mount("/api/agent", routes=[*agent_api.routes(svc, relay, auth, per_user, knowledge, files, orders),
                                    *search_api.routes(search, auth, per_user, cfg.timezone),
                                    *reports_api.routes(db, cfg.timezone, auth, per_user, svc.clock),
                                    *tickets_api.routes(svc, relay, auth, per_user, settings.raw.get("tickets"))]),
        Mount("/internal", routes=internal_api.routes(svc, auth, files)),
        Mount("/api/admin/privacy", routes=privacy_api.routes(privacy, settings.default_tenant, auth, per_user)),
        *inbox_web.routes(),
        *reports_web.routes(),
        *search_api.page_routes(),
        *tickets_api.page_routes(),
    ], lifespan=lifespan)  # fmt: skip
    app.state.db = db
    app.state.settings = settings
    app.state.handoff = svc
    return app
