"""Message search routes under ``/api/agent`` (JWT agent or supervisor; the tenant only from the token) and the
inbox's search page (``/inbox/search``). Thin handlers over ``MessageSearch``; index and database work run in
a thread. Who may find and open what is decided in ``handoff.search.service``."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.errors import InvalidInput
from bot.security import Principal
from bot.web import Auth, Limiter, endpoint
from handoff import inbox_web
from handoff.search.es_backend import SearchUnavailable
from handoff.search.service import MessageSearch, query_from

AGENTS = ("agent", "supervisor")
PARAMS = ("q", "customer", "agent", "role", "from", "to", "conversation", "limit", "offset")


def routes(search: MessageSearch, auth: Auth, limit: Limiter | None, timezone: str) -> list[Route]:
    async def find(request: Request, who: Principal) -> Any:
        params = {k: v for k, v in request.query_params.items() if k in PARAMS}
        agent = await asyncio.to_thread(search.agent_id, who.tenant_id, params.get("agent"))
        query = query_from(params, timezone, agent)
        try:
            return (await asyncio.to_thread(search.search, who, query)).to_json()
        except SearchUnavailable:  # the cluster is away: the inbox says so and the agent retries
            return JSONResponse({"error": "message search is unavailable; try again in a moment"}, 503,
                                headers={"Retry-After": "5"})  # fmt: skip

    async def archive(request: Request, who: Principal) -> Any:
        q = request.query_params
        try:
            lines, skip = int(q.get("limit") or 500), int(q.get("offset") or 0)
        except ValueError:
            raise InvalidInput("limit and offset must be whole numbers") from None
        if skip < 0:
            raise InvalidInput("offset must be 0 or more")
        return await asyncio.to_thread(search.archive, who, request.path_params["conversation_id"], lines, skip)

    def r(path: str, fn: Any) -> Route:
        return Route(path, endpoint(fn, auth, AGENTS, limit=limit), methods=["GET"])

    return [r("/messages/search", find), r("/conversations/{conversation_id}/archive", archive)]


def page_routes() -> list[Route]:
    """The search page holds no data: it calls the routes above with the token the inbox keeps."""
    return inbox_web.page_routes("/inbox/search", "search")
