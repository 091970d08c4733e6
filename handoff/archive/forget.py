"""``POST /internal/search/forget`` on the archive process: delete conversations from the message index it alone
may write (tantivy's one writer), for a privacy erase running elsewhere (``handoff.privacy.search``). A service
token; the tenant comes from the token, never from the body."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from bot.errors import InvalidInput, NotFound
from bot.security import SERVICE, Principal
from bot.web import Auth, endpoint, json_body

MAX_CONVERSATIONS = 1000


def routes(index_of: Callable[[], Any], auth: Auth) -> list[Route]:
    async def forget(request: Request, who: Principal) -> dict[str, Any]:
        body = await json_body(request, 256 * 1024, empty_ok=False)
        convs = body.get("conversations")
        if (not isinstance(convs, list) or not 0 < len(convs) <= MAX_CONVERSATIONS
                or not all(isinstance(c, str) and 0 < len(c) <= 128 for c in convs)):  # fmt: skip
            raise InvalidInput(f"conversations must be a list of 1-{MAX_CONVERSATIONS} conversation ids")
        index = index_of()
        if index is None:
            raise NotFound("this archive process keeps no message index (archive.index: false)")
        removed = await asyncio.to_thread(lambda: sum(index.delete_conversation(who.tenant_id, c) for c in convs))
        return {"removed": removed}

    return [Route("/internal/search/forget", endpoint(forget, auth, ("service",), audience=SERVICE),
                  methods=["POST"])]  # fmt: skip
