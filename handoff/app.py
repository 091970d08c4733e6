"""HTTP app of the handoff service (Starlette): staff log-in and, as it grows, the agent API.
Built by a factory so tests create their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bot import auth_api
from bot.ratelimit import Rate, create_rate_limiter
from bot.settings import Settings, load_settings
from bot.storage.db import Database
from bot.users import UserService
from bot.web import Auth, per_user_limit

PER_USER = "600/min"


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
    db = Database.from_settings(settings)
    users = UserService(db)
    auth = Auth(settings.keyring, users.is_revoked)
    backend = settings.backend("rate_limit")
    limiter = create_rate_limiter(backend)
    per_user = per_user_limit(limiter, Rate.parse(str(backend.get("per_user") or PER_USER)))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await limiter.close()
        db.dispose()

    app = Starlette(routes=[
        Route("/health", health),
        Mount("/api/auth", routes=auth_api.routes(settings, users, auth, limiter, per_user)),
    ], lifespan=lifespan)  # fmt: skip
    app.state.db = db
    app.state.settings = settings
    return app
