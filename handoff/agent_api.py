"""The agent API (``/api/agent``): JWT roles agent and supervisor, the tenant from the token.

Thin handlers over ``HandoffService`` and ``handoff.assignment``; the blocking work runs in a thread.
An agent sees their own sessions and their groups' queue; a supervisor sees the tenant's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import InvalidInput, NotFound
from bot.files.service import FileService
from bot.orders.client import OrderService
from bot.security import Principal
from bot.storage.models import Session
from bot.web import Auth, Limiter, endpoint, json_body, read_body
from handoff import assignment as a
from handoff import customer_orders as co
from handoff import domain as d
from handoff import repository as repo
from handoff import summary
from handoff.attachments import attachment
from handoff.models import HandoffLine
from handoff.quota import quota
from handoff.relay import RasaRelay
from handoff.reports import day_counts, day_start
from handoff.service import HandoffService
from handoff.states import State
from knowledge.client import KnowledgeClient

log = logging.getLogger(__name__)
AGENTS = ("agent", "supervisor")


def _id(request: Request, name: str) -> int:
    try:
        return int(request.path_params[name])
    except (KeyError, ValueError):
        raise InvalidInput(f"{name} must be a number") from None


def routes(svc: HandoffService, relay: RasaRelay | None, auth: Auth, limit: Limiter | None,
           knowledge: KnowledgeClient | None = None, files: FileService | None = None,
           orders: OrderService | None = None) -> list[Route]:  # fmt: skip
    def run(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return asyncio.to_thread(fn, *args)

    async def heartbeat(request: Request, who: Principal) -> Response:
        await run(a.heartbeat, svc, who)
        return Response(status_code=204)

    async def availability(request: Request, who: Principal) -> Any:
        body = await json_body(request, 1024, empty_ok=False)
        if not isinstance(body.get("available"), bool):
            raise InvalidInput('expected {"available": true|false}')
        await run(a.set_available, svc, who, body["available"])
        presence = svc.presence.get(who.tenant_id, [who.user_id], svc.clock())[who.user_id]
        return {"status": presence.status}

    def _queue(who: Principal) -> list[dict[str, Any]]:
        with svc.db.session() as db:
            supervisor = bool({"supervisor", "admin"} & who.roles)
            groups = None
            if not supervisor:
                me = next((u for u in repo.staff(db, who.tenant_id) if u.user_id == who.user_id), None)
                mine = {g for g in ((me.skills if me else "") or "").split(",") if g}
                groups = mine or None
            rows = repo.waiting(db, who.tenant_id, groups)
            now = svc.clock()
            return [{**d.view(s).to_json(), "position": i + 1, "waited_seconds": round(now - (s.queued_at or now))}
                    for i, s in enumerate(rows)]  # fmt: skip

    async def queue(request: Request, who: Principal) -> Any:
        return {"items": await run(_queue, who)}

    def _sessions(who: Principal) -> list[dict[str, Any]]:
        with svc.db.session() as db:
            agent = None if {"supervisor", "admin"} & who.roles else who.user_id
            return [d.view(s).to_json() for s in repo.open_sessions(db, who.tenant_id, agent)]

    async def sessions(request: Request, who: Principal) -> Any:
        return {"items": await run(_sessions, who)}

    def _lines(who: Principal, session_id: int) -> tuple[d.SessionView, list[dict[str, Any]], list[dict[str, Any]]]:
        """The session, its messages with the agent, and what the customer and the bot said before."""
        import json

        from sqlalchemy import select

        view = svc.session_for(who, session_id, write=False)
        with svc.db.session() as db:
            msgs = db.scalars(select(HandoffLine).where(HandoffLine.session_id == session_id,
                                                    HandoffLine.tenant_id == who.tenant_id)
                              .order_by(HandoffLine.created_at, HandoffLine.msg_id))  # fmt: skip
            during = [{"id": str(m.msg_id), "from": {0: "customer", 1: "agent", 2: "bot"}.get(m.sender_role or 0),
                       "at": m.created_at.replace(tzinfo=dt.timezone.utc).timestamp(),
                       **json.loads(m.content or "{}")} for m in msgs]  # fmt: skip
        before = relay.history(view.conversation_id) if relay else []
        return view, during, before

    def _detail(who: Principal, session_id: int) -> dict[str, Any]:
        from sqlalchemy import select

        view, during, before = _lines(who, session_id)
        with svc.db.session() as db:
            past = [d.view(s).to_json() for s in db.scalars(select(Session).where(
                Session.tenant_id == who.tenant_id, Session.customer_ref == view.customer_ref,
                Session.session_id != session_id).order_by(Session.created_at.desc()).limit(10))]  # fmt: skip
        return {"session": view.to_json(), "messages": during, "conversation": before, "past_sessions": past,
                "summary": summary.extractive(summary.before_handoff(before, view.queued_at)),
                "reply_quota": _quota(view, during)}  # fmt: skip

    def _quota(view: d.SessionView, during: list[dict[str, Any]]) -> dict[str, Any] | None:
        """What is left of the channel's ration of agent lines (WeChat: 5 within 48 h of the customer's last)."""
        last = view.last_customer_at
        sent = sum(1 for m in during if m.get("from") == "agent" and not m.get("undelivered") and not m.get("merged")
                   and last is not None and float(m.get("at") or 0) > last)  # fmt: skip
        q = quota(view.channel, last, sent, svc.clock())
        return q.to_json() if q else None

    async def detail(request: Request, who: Principal) -> Any:
        return await run(_detail, who, _id(request, "session_id"))

    async def assist(request: Request, who: Principal) -> Any:
        """Agent assist: the knowledge base's answers to the customer's latest message, each with its source,
        and a summary of the bot part (the LLM's when one is configured, else extractive)."""
        view, during, history = await run(_lines, who, _id(request, "session_id"))
        before = summary.before_handoff(history, view.queued_at)
        query = summary.latest_question(during, before)
        out: dict[str, Any] = {"query": query, "answers": [], "sure": False,
                               "summary": {"text": summary.extractive(before), "source": "extractive"}}  # fmt: skip
        if knowledge is None or not (query or before):
            return out
        lines = [{"from": str(x.get("from")), "text": str(x.get("text") or "")[:300]} for x in before[-40:]]
        try:
            found = await knowledge.assist(query, who.tenant_id, lines)
        except Exception as exc:  # the inbox works without the knowledge service; the agent is told so
            log.warning("agent assist: the knowledge service did not answer: %s", exc)
            return {**out, "error": "知识库暂时不可用"}
        out["answers"], out["sure"] = found.get("answers") or [], bool(found.get("sure"))
        if isinstance(found.get("summary"), str) and found["summary"]:
            out["summary"] = {"text": found["summary"], "source": "llm"}
        return out

    async def customer_orders(request: Request, who: Principal) -> Any:
        """The customer's orders (the ones they named in the chat, then their latest), via the order adapter."""
        view, during, history = await run(_lines, who, _id(request, "session_id"))
        if orders is None:
            return {"items": []}
        return await co.customer_orders(orders, view.customer_ref, summary.order_numbers([*history, *during]))

    async def accept(request: Request, who: Principal) -> Any:
        return (await run(a.accept, svc, who, _id(request, "offer_id"))).to_json()

    async def decline(request: Request, who: Principal) -> Response:
        await run(a.decline, svc, who, _id(request, "offer_id"))
        return Response(status_code=204)

    async def take(request: Request, who: Principal) -> Any:
        body = await json_body(request, 1024)
        target = body.get("agent_id")
        agent = int(target) if isinstance(target, int | str) and str(target).isdigit() else None
        return (await run(a.take, svc, who, _id(request, "session_id"), agent)).to_json()

    async def send(request: Request, who: Principal) -> Any:
        body = await json_body(request, 16 * 1024, empty_ok=False)
        text, image = body.get("text") or "", body.get("image_url") or ""
        if not isinstance(text, str) or not isinstance(image, str):
            raise InvalidInput('expected {"text": "..."}, {"image_url": "https://..."} or {"file": {"url": ...}}')
        file = attachment(files, body.get("file"), who.tenant_id) if body.get("file") is not None else None
        client_id = body.get("client_id")
        if client_id is not None and not isinstance(client_id, str):
            raise InvalidInput("client_id must be a string")
        return await run(svc.send, who, _id(request, "session_id"), text, image, file, client_id)

    async def upload(request: Request, who: Principal) -> Any:
        """An image or PDF the agent is about to send: the raw body, its name in ``?name=``."""
        if files is None:
            raise NotFound("file uploads are not configured here")
        data = await read_body(request, files.max_bytes)
        return (await run(files.save, who.tenant_id, request.query_params.get("name", ""), data)).to_json()

    async def transfer(request: Request, who: Principal) -> Any:
        body = await json_body(request, 4096, empty_ok=False)
        target = body.get("agent_id")
        agent = int(target) if isinstance(target, int | str) and str(target).isdigit() else None
        group = body.get("group") if isinstance(body.get("group"), str) else None
        note = body.get("note") if isinstance(body.get("note"), str) else ""
        return (await run(a.transfer, svc, who, _id(request, "session_id"), agent, group, note)).to_json()

    async def close(request: Request, who: Principal) -> Any:
        body = await json_body(request, 8192)
        summary = body.get("summary") if isinstance(body.get("summary"), str) else ""
        return (await run(svc.close, who, _id(request, "session_id"), summary)).to_json()

    def _agents(db: Any, who: Principal, now: float) -> list[tuple[Any, dict[str, Any]]]:
        """The tenant's staff, each with the state and load both the overview and a transfer show."""
        staff = repo.staff(db, who.tenant_id)
        presence = svc.presence.get(who.tenant_id, [u.user_id for u in staff], now)
        loads = repo.loads(db, who.tenant_id)
        return [(u, {"id": str(u.user_id), "name": u.nick_name, "skills": u.skills or "", "capacity": u.capacity,
                     "load": loads.get(u.user_id, 0), "status": presence[u.user_id].status})
                for u in staff]  # fmt: skip

    def _overview(who: Principal) -> dict[str, Any]:
        now = svc.clock()
        with svc.db.session() as db:
            waiting = repo.waiting(db, who.tenant_id, limit=10_000)
            groups: dict[str, dict[str, Any]] = {}
            for s in waiting:
                g = groups.setdefault(s.skill_group or "", {"waiting": 0, "longest_wait_seconds": 0})
                g["waiting"] += 1
                g["longest_wait_seconds"] = max(g["longest_wait_seconds"], round(now - (s.queued_at or now)))
            agents = [{**row, "login": u.external_id, "roles": u.roles} for u, row in _agents(db, who, now)]
            names = {int(a["id"]): a["name"] for a in agents}
            open_ = repo.open_sessions(db, who.tenant_id)
            served = [{**d.view(s).to_json(), "agent_name": names.get(s.agent_id or 0, "")}
                      for s in open_ if s.session_state != d.STATE_CODE[State.WAITING]]  # fmt: skip
            today = day_counts(repo.day(db, who.tenant_id, day_start(now, svc.cfg.timezone)))
            return {"queues": groups, "agents": agents, "open_sessions": len(open_), "sessions": served,
                    "today": today.to_json()}  # fmt: skip

    async def overview(request: Request, who: Principal) -> Any:
        return await run(_overview, who)

    def _colleagues(who: Principal) -> list[dict[str, Any]]:
        """Who a chat can be transferred to: the tenant's agents with their state and load (no contact data)."""
        with svc.db.session() as db:
            return [row for u, row in _agents(db, who, svc.clock()) if u.user_id != who.user_id]

    async def colleagues(request: Request, who: Principal) -> Any:
        return {"items": await run(_colleagues, who)}

    def r(path: str, fn: Any, method: str, roles: tuple[str, ...] = AGENTS) -> Route:
        return Route(path, endpoint(fn, auth, roles, limit=limit), methods=[method])

    return [
        r("/heartbeat", heartbeat, "POST"),
        r("/availability", availability, "POST"),
        r("/queue", queue, "GET"),
        r("/sessions", sessions, "GET"),
        r("/sessions/{session_id}", detail, "GET"),
        r("/sessions/{session_id}/assist", assist, "GET"),
        r("/sessions/{session_id}/orders", customer_orders, "GET"),
        r("/sessions/{session_id}/take", take, "POST"),
        r("/sessions/{session_id}/messages", send, "POST"),
        r("/files", upload, "POST"),
        r("/sessions/{session_id}/transfer", transfer, "POST"),
        r("/sessions/{session_id}/close", close, "POST"),
        r("/offers/{offer_id}/accept", accept, "POST"),
        r("/offers/{offer_id}/decline", decline, "POST"),
        r("/colleagues", colleagues, "GET"),
        r("/overview", overview, "GET", ("supervisor",)),
    ]
