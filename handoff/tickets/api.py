"""The tickets' part of the agent API (``/api/agent/tickets``): JWT roles agent and supervisor, the tenant from
the token only. Thin handlers over ``TicketService``; the blocking work runs in a thread."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from bot.errors import InvalidInput
from bot.security import Principal
from bot.web import Auth, Limiter, endpoint, json_body
from handoff import inbox_web
from handoff.models import HandoffLine
from handoff.relay import RasaRelay
from handoff.service import HandoffService
from handoff.tickets.config import TicketsConfig
from handoff.tickets.service import TicketQuery, TicketService, check_category, check_priority, tickets_of
from handoff.tickets.states import parse

AGENTS = ("agent", "supervisor")
BODY_BYTES = 16 * 1024  # a comment is at most 4000 characters; a 1 MB body is refused with 413 before parsing


def _id(value: Any, name: str) -> int:
    text = str(value if value is not None else "")
    if not text.isdigit() or not 0 < int(text) < 2**63:
        raise InvalidInput(f"{name} must be an id (digits)")
    return int(text)


def _text(body: dict[str, Any], key: str, required: bool = False) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{key} must be {'a non-empty' if required else 'a'} string")
    return value


def query_of(params: Any) -> TicketQuery:
    """List filters from the query string: status (comma-separated), priority, category, assignee (me, none or an
    id), source, conversation_id, breached (true/false), q (a number or title words), before, limit."""
    status = tuple(parse(s) for s in str(params.get("status") or "").split(",") if s.strip())
    priority = params.get("priority")
    assignee = params.get("assignee") or None
    if assignee not in (None, "me", "none"):
        assignee = str(_id(assignee, "assignee"))
    breached = {"true": True, "1": True, "false": False, "0": False, None: None}.get(params.get("breached"), "bad")
    if breached == "bad":
        raise InvalidInput("breached must be true or false")
    limit = params.get("limit") or "50"
    if not limit.isdigit() or not 1 <= int(limit) <= 200:
        raise InvalidInput("limit must be 1 to 200")
    if priority and not priority.isdigit():
        raise InvalidInput("priority must be 1 to 4")
    return TicketQuery(status=status, priority=check_priority(int(priority)) if priority else None,
                       category=check_category(params.get("category")), assignee=assignee,
                       source=(params.get("source") or None), conversation_id=params.get("conversation_id") or None,
                       breached=breached, text=str(params.get("q") or "")[:64],  # type: ignore[arg-type]
                       before=_id(params["before"], "before") if params.get("before") else None,
                       limit=int(limit))  # fmt: skip


def transcript(svc: TicketService, relay: RasaRelay | None, who: Principal, ticket_id: int) -> dict[str, Any]:
    """What the customer, the bot and the agents said in the ticket's conversation: the handoff session's lines
    and the Rasa conversation around it."""
    ticket, _ = svc.get(who, ticket_id)
    during: list[dict[str, Any]] = []
    if ticket.session_id:
        with svc.db.session() as db:
            rows = db.scalars(select(HandoffLine).where(HandoffLine.session_id == ticket.session_id,
                                                        HandoffLine.tenant_id == who.tenant_id)
                              .order_by(HandoffLine.created_at, HandoffLine.msg_id).limit(500))  # fmt: skip
            during = [{"from": {0: "customer", 1: "agent", 2: "bot"}.get(m.sender_role or 0),
                       "at": m.created_at.replace(tzinfo=dt.timezone.utc).timestamp(),
                       **json.loads(m.content or "{}")} for m in rows]  # fmt: skip
    before = relay.history(ticket.conversation_id, 200) if relay and ticket.conversation_id else []
    return {"ticket_id": str(ticket.ticket_id), "session_id": str(ticket.session_id) if ticket.session_id else None,
            "conversation_id": ticket.conversation_id, "handoff": during, "conversation": before}  # fmt: skip


def routes(handoff: HandoffService, relay: RasaRelay | None, auth: Auth, limit: Limiter | None,
           raw: Any = None) -> list[Route]:  # fmt: skip
    svc = tickets_of(handoff, TicketsConfig.from_mapping(raw))

    def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Awaitable[Any]:
        return asyncio.to_thread(fn, *args, **kwargs)

    def ticket_id(request: Request) -> int:
        return _id(request.path_params.get("ticket_id"), "ticket_id")

    async def list_(request: Request, who: Principal) -> Any:
        now = svc.now()
        items = await run(svc.list, who, query_of(request.query_params))
        return {"items": [t.to_json(now) for t in items], "now": now}

    async def create(request: Request, who: Principal) -> Any:
        body = await json_body(request, BODY_BYTES, empty_ok=False)
        session = body.get("session_id")
        conversation = body.get("conversation_id")
        if conversation is not None and (not isinstance(conversation, str) or len(conversation) > 128):
            raise InvalidInput("conversation_id must be a string of at most 128 characters")
        assignee = body.get("assignee_id")
        priority = body.get("priority")
        t = await run(svc.create, who, title=_text(body, "title", True), description=_text(body, "description"),
                      category=check_category(body.get("category")),
                      priority=check_priority(priority) if priority is not None else None,
                      session_id=_id(session, "session_id") if session is not None else None,
                      conversation_id=conversation or None,
                      assignee_id=_id(assignee, "assignee_id") if assignee is not None else None)  # fmt: skip
        return t.to_json(svc.now())

    async def get(request: Request, who: Principal) -> Any:
        t, comments = await run(svc.get, who, ticket_id(request))
        return {**t.to_json(svc.now()), "comments": [c.to_json() for c in comments],
                "transcript_url": f"/api/agent/tickets/{t.ticket_id}/transcript"}  # fmt: skip

    async def transcript_(request: Request, who: Principal) -> Any:
        return await run(transcript, svc, relay, who, ticket_id(request))

    async def status(request: Request, who: Principal) -> Any:
        body = await json_body(request, BODY_BYTES, empty_ok=False)
        to = body.get("status")
        if not isinstance(to, str | int) or isinstance(to, bool):
            raise InvalidInput('expected {"status": "in_progress" | "waiting_customer" | "resolved" | "closed"}')
        t = await run(svc.move, who, ticket_id(request), parse(to), _text(body, "note"), _text(body, "reply"))
        return t.to_json(svc.now())

    async def assign(request: Request, who: Principal) -> Any:
        body = await json_body(request, 1024, empty_ok=False)
        if "agent_id" not in body:
            raise InvalidInput('expected {"agent_id": "<id>"} (null: unassign)')
        agent = body["agent_id"]
        t = await run(svc.assign, who, ticket_id(request), _id(agent, "agent_id") if agent is not None else None)
        return t.to_json(svc.now())

    async def comment(request: Request, who: Principal) -> Any:
        body = await json_body(request, BODY_BYTES, empty_ok=False)
        c = await run(svc.comment, who, ticket_id(request), _text(body, "text", True))
        return c.to_json()

    def r(path: str, fn: Any, method: str) -> Route:
        return Route(path, endpoint(fn, auth, AGENTS, limit=limit), methods=[method])

    return [
        r("/tickets", list_, "GET"),
        r("/tickets", create, "POST"),
        r("/tickets/{ticket_id}", get, "GET"),
        r("/tickets/{ticket_id}/transcript", transcript_, "GET"),
        r("/tickets/{ticket_id}/status", status, "POST"),
        r("/tickets/{ticket_id}/assign", assign, "POST"),
        r("/tickets/{ticket_id}/comments", comment, "POST"),
    ]




def page_routes() -> list[Route]:
    """The 工单 page holds no data: it calls the routes above with the token the inbox keeps in the tab."""
    return inbox_web.page_routes("/inbox/tickets", "tickets")
