"""Routes for the platform's own processes (role ``service``, the tenant from the token): the action server
asking for a person, the Rasa server's event broker relaying what customers say, CSAT and left messages."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from bot.errors import InvalidInput
from bot.files.service import FileService
from bot.security import SERVICE, Principal
from bot.web import Auth, endpoint, json_body
from handoff import domain as d
from handoff.attachments import attachment
from handoff.policy import reason_of
from handoff.service import HandoffService

log = logging.getLogger(__name__)


def _str(body: dict[str, Any], key: str, limit: int = 128, required: bool = True) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        raise InvalidInput(f"{key} must be a non-empty string of at most {limit} characters")
    return value


def routes(svc: HandoffService, auth: Auth, files: FileService | None = None) -> list[Route]:
    async def request_human(request: Request, who: Principal) -> Any:
        body = await json_body(request, 8192, empty_ok=False)
        customer = body.get("customer") if isinstance(body.get("customer"), dict) else {}
        tags = tuple(str(t)[:32] for t in customer.get("tags") or [] if isinstance(t, str))[:10]
        ref = d.CustomerRef(who.tenant_id, _str(body, "conversation_id"), _str(body, "channel", 32),
                            _str(customer, "id"), str(customer.get("name") or "")[:64], tags)  # fmt: skip
        reason = reason_of(body.get("intent") if isinstance(body.get("intent"), str) else None,
                           str(body.get("text") or ""))  # fmt: skip
        group = body.get("group") if isinstance(body.get("group"), str) else None
        ticket = await asyncio.to_thread(svc.request, ref, reason, group)
        return ticket.to_json()

    async def events(request: Request, who: Principal) -> Any:
        body = await json_body(request, 512 * 1024, empty_ok=False)
        items = body.get("events")
        if not isinstance(items, list):
            raise InvalidInput('expected {"events": [...]}')
        by_conversation: dict[str, list[tuple[str, str | None, float | None, Any]]] = {}
        for e in items:  # in order: one conversation's messages keep theirs
            if not isinstance(e, dict) or not isinstance(e.get("conversation_id"), str):
                continue
            text = e.get("text") if isinstance(e.get("text"), str) else ""
            intent = e.get("intent") if isinstance(e.get("intent"), str) else None
            at = float(e["at"]) if isinstance(e.get("at"), int | float) else None
            file = None
            if e.get("file") is not None:
                try:
                    file = attachment(files, e["file"], who.tenant_id)
                except InvalidInput:  # the broker checked it; one that fails here (expired) goes as text only
                    log.warning("a customer file in %s did not verify; relayed as text", e["conversation_id"])
            if text or file:
                by_conversation.setdefault(e["conversation_id"], []).append((text or "/send_file", intent, at, file))

        async def relay(conversation: str, lines: list[tuple[str, str | None, float | None, Any]]) -> int:
            n = 0
            for text, intent, at, file in lines:  # one conversation in order; conversations side by side
                n += await asyncio.to_thread(svc.customer_said, who.tenant_id, conversation, text, intent, at, file)
            return n

        relayed = sum(await asyncio.gather(*(relay(c, lines) for c, lines in by_conversation.items())))
        return {"relayed": relayed}

    async def seen(request: Request, who: Principal) -> Any:
        """The customer's screen showed the chat (the web chat's report), for the notify hook."""
        body = await json_body(request, 1024, empty_ok=False)
        at = body.get("at") if isinstance(body.get("at"), int | float) else None
        return {"open": await asyncio.to_thread(svc.customer_seen, who.tenant_id, _str(body, "conversation_id"), at)}

    async def csat(request: Request, who: Principal) -> Any:
        body = await json_body(request, 1024, empty_ok=False)
        score = body.get("score")
        if not isinstance(score, int):
            raise InvalidInput("score must be an integer 1-5")
        return {"recorded": await asyncio.to_thread(svc.record_csat, who.tenant_id, _str(body, "conversation_id"),
                                                    score)}  # fmt: skip

    async def left_message(request: Request, who: Principal) -> Any:
        body = await json_body(request, 16 * 1024, empty_ok=False)
        left_id = await asyncio.to_thread(svc.leave_message, who.tenant_id, _str(body, "conversation_id"),
                                          _str(body, "customer_id"), _str(body, "text", 2000),
                                          _str(body, "reason", 32, required=False))  # fmt: skip
        return {"id": str(left_id)}

    async def end(request: Request, who: Principal) -> Any:
        body = await json_body(request, 1024, empty_ok=False)
        return {"ended": await asyncio.to_thread(svc.customer_ended, who.tenant_id, _str(body, "conversation_id"))}

    def r(path: str, fn: Any) -> Route:
        return Route(path, endpoint(fn, auth, ("service",), audience=SERVICE), methods=["POST"])

    return [r("/handoff", request_human), r("/events", events), r("/seen", seen), r("/csat", csat),
            r("/left-messages", left_message), r("/end", end)]  # fmt: skip
