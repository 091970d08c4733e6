"""The knowledge service process (``python -m knowledge``): the one process that owns the KB stores.

milvus-lite and tantivy allow one writer process, so the process that answers questions is also the one
that changes the knowledge base. Routes:

* ``GET /health``
* ``POST /answer {"query", "tenant_id"?, "conversation_id"?}`` — for the action server; role ``service``
* ``/api/kb/...`` — the admin API (role ``kb_admin``), see ``knowledge.api``
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bot.security import AuthError, PermissionDenied, bearer_token, verify_token
from bot.serve import serve
from bot.settings import Settings, load_settings
from knowledge import api
from knowledge.service import KnowledgeService

MAX_QUERY_CHARS = 2000


def create_app(settings: Settings | None = None, service: KnowledgeService | None = None) -> Starlette:
    settings = settings or load_settings()
    svc = service or KnowledgeService.from_settings(settings)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def answer(request: Request) -> JSONResponse:
        try:
            principal = verify_token(settings.jwt_secret, bearer_token(request.headers.get("authorization")),
                                     settings.jwt_issuer)  # fmt: skip
            principal.require("service")
        except AuthError as exc:
            return JSONResponse({"error": str(exc)}, 401)
        except PermissionDenied as exc:
            return JSONResponse({"error": str(exc)}, 403)
        try:
            body = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"error": "body must be JSON"}, 400)
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or not query.strip():
            return JSONResponse({"error": "query must be a non-empty string"}, 400)
        tenant = str(body.get("tenant_id") or principal.tenant_id)
        conv = body.get("conversation_id")
        ans = await asyncio.to_thread(svc.answer, query[:MAX_QUERY_CHARS], tenant, str(conv) if conv else None)
        return JSONResponse(ans.to_dict())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(svc.migrate)
        await asyncio.to_thread(svc.warm_up)
        yield
        svc.close()  # flushes batched hit counts

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/answer", answer, methods=["POST"]),
            Mount("/api/kb", app=api.create_app(settings, svc)),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    serve(create_app, "knowledge")


if __name__ == "__main__":
    main()
