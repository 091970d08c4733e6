"""HTTP app of the handoff service (Starlette). Built by a factory so tests create their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.settings import Settings, load_settings
from bot.storage.db import Database


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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.db = Database.from_settings(settings)
        yield
        app.state.db.dispose()

    return Starlette(routes=[Route("/health", health)], lifespan=lifespan)
