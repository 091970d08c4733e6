"""The knowledge service process (``python -m knowledge``): the one process that owns the KB stores.

milvus-lite and tantivy allow one writer process, so the process that answers questions is also the one
that changes the knowledge base. Routes:

* ``GET /health`` — 200 when a live index version answers, 503 otherwise
* ``POST /answer {"query", "conversation_id"?}`` — for the action server: role ``service``, the token's tenant
* ``POST /assist {"query", "conversation"?}`` — agent assist for the handoff service: the top answers with their
  sources, and an LLM summary of the conversation when an LLM is configured (``knowledge.assist``)
* ``/api/kb/...`` — the admin API (role ``kb_admin``), see ``knowledge.api``
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from bot.errors import InvalidInput
from bot.ratelimit import Rate, create_rate_limiter
from bot.security import SERVICE, Principal
from bot.serve import serve
from bot.settings import Settings, load_settings
from bot.users import UserService
from bot.web import Auth, endpoint, json_body, per_user_limit
from knowledge import api
from knowledge import metrics as kb_metrics
from knowledge.assist import suggest
from knowledge.service import KnowledgeService

log = logging.getLogger(__name__)
MAX_QUERY_CHARS = 2000
MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings | None = None, service: KnowledgeService | None = None) -> Starlette:
    settings = settings or load_settings()
    svc = service or KnowledgeService.from_settings(settings)
    kb_metrics.register(svc)
    auth = Auth(settings.keyring, UserService(svc.db).is_revoked)
    backend = settings.backend("rate_limit")
    limiter = create_rate_limiter(backend)
    per_user = per_user_limit(limiter, Rate.parse(str(backend.get("per_user") or "600/min")))

    async def health(_: Request) -> JSONResponse:
        # healthy means able to answer: a live index version exists (an empty KB still has one)
        live = await asyncio.to_thread(svc.versions.live)
        if live is None:
            return JSONResponse({"status": "no live index version", "live": None}, 503)
        return JSONResponse({"status": "ok", "live": live.name})

    async def answer(request: Request, principal: Principal) -> JSONResponse:
        body = await json_body(request, MAX_BODY_BYTES, empty_ok=False)
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query must be a non-empty string")
        conv = body.get("conversation_id")
        # the tenant is the token's: a service token is minted per tenant (bot.tokens), the body can't widen it
        ans = await asyncio.to_thread(svc.answer, query[:MAX_QUERY_CHARS], principal.tenant_id,
                                      str(conv)[:128] if conv else None)  # fmt: skip
        kb_metrics.observe_answer(ans.abstained, ans.cached)
        return JSONResponse(ans.to_dict())

    def _assist(query: str, lines: list[Any], tenant_id: str) -> dict[str, Any]:
        answers, sure = suggest(svc, query[:MAX_QUERY_CHARS], tenant_id) if query.strip() else ([], False)
        summary = None
        if lines and svc.summarizer is not None:
            try:
                summary = svc.summarizer.summarize(lines)
            except Exception as exc:  # timeout, HTTP error: the caller writes the extractive summary instead
                log.warning("LLM summary failed: %s", exc)
        return {"answers": [a.to_dict() for a in answers], "sure": sure, "summary": summary}

    async def assist(request: Request, principal: Principal) -> JSONResponse:
        body = await json_body(request, MAX_BODY_BYTES, empty_ok=False)
        query, lines = body.get("query", ""), body.get("conversation") or []
        if not isinstance(query, str) or not isinstance(lines, list):
            raise InvalidInput('expected {"query": "...", "conversation": [{"from": ..., "text": ...}]}')
        return JSONResponse(await asyncio.to_thread(_assist, query, lines, principal.tenant_id))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(svc.migrate)
        await asyncio.to_thread(svc.versions.ensure_live)  # an empty KB has a live (empty) version too
        await asyncio.to_thread(svc.warm_up)
        yield
        svc.close()  # flushes batched hit counts
        await limiter.close()

    return Starlette(
        routes=[
            Route("/health", health),
            Route("/answer", endpoint(answer, auth, ("service",), audience=SERVICE), methods=["POST"]),
            Route("/assist", endpoint(assist, auth, ("service",), audience=SERVICE), methods=["POST"]),
            Mount("/api/kb", app=api.create_app(settings, svc, auth, per_user)),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    serve(create_app, "knowledge")


if __name__ == "__main__":
    main()
