"""The agent WebSocket (``/api/agent/ws?token=…&cursor=N``): pushes offers, messages and state changes in
order. Every item carries the feed's ``seq``; an agent that reconnects with ``cursor`` = the last seq it saw
gets everything after it. The client may send ``{"type": "heartbeat"}`` (presence); more than
``MAX_PER_SECOND`` messages a second closes the socket with a reason."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.security import STAFF, AuthError, Principal
from bot.web import Auth
from handoff import assignment as a
from handoff import repository as repo
from handoff.hub import Hub
from handoff.service import HandoffService

MAX_PER_SECOND = 20
# Also look without a wake-up: a safety net (a lost Redis wake-up, a change by another instance that could not
# publish). Several instances without Redis wake-ups would depend on it.
POLL_SECONDS = 30.0
POLL_SECONDS_UNSHARED_MULTI = 2.0


def websocket_route(svc: HandoffService, auth: Auth, hub: Hub):  # type: ignore[no-untyped-def]
    async def agent_ws(ws: WebSocket) -> None:
        token = ws.query_params.get("token", "")
        try:
            who = _verify(auth, token)
            who.require("agent", "supervisor")
        except Exception:
            # accepted first so a browser sees the reason (a refused handshake is only "403")
            await ws.accept()
            await ws.close(code=4401, reason="a valid agent token is required")
            return
        try:
            cursor = int(ws.query_params.get("cursor", "0"))
        except ValueError:
            cursor = 0
        await ws.accept()
        supervisor = bool({"supervisor", "admin"} & who.roles)
        keys: list[tuple[str, int | None]] = [(who.tenant_id, who.user_id)]
        if supervisor:
            keys.append((who.tenant_id, None))
        wake = hub.subscribe(keys)
        sender = asyncio.create_task(_push(ws, svc, hub, who, supervisor, cursor, wake))
        try:
            await _receive(ws, svc, who)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            hub.unsubscribe(keys, wake)

    return agent_ws


def _verify(auth: Auth, token: str) -> Principal:
    from bot.security import verify_token

    who = verify_token(auth.keys, token, STAFF)
    if who.token_id and auth.is_revoked(who.token_id):
        raise AuthError("token revoked")
    return who


async def _push(ws: WebSocket, svc: HandoffService, hub: Hub, who: Principal, supervisor: bool, cursor: int,
                wake: asyncio.Event) -> None:  # fmt: skip
    def fetch(after: int) -> list[dict[str, object]]:
        with svc.db.session() as db:
            return [{"seq": r.seq, "kind": r.kind, "at": r.at, **r.payload}
                    for r in repo.feed_after(db, who.tenant_id, who.user_id, supervisor, after)]  # fmt: skip

    alone = hub.shared or svc.db.engine.dialect.name == "sqlite"  # wake-ups reach every socket that matters
    poll = POLL_SECONDS if alone else POLL_SECONDS_UNSHARED_MULTI
    while True:
        wake.clear()
        for item in await asyncio.to_thread(fetch, cursor):
            await ws.send_text(json.dumps(item, ensure_ascii=False))
            cursor = int(item["seq"])  # type: ignore[arg-type]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), poll)


async def _receive(ws: WebSocket, svc: HandoffService, who: Principal) -> None:
    window, count = time.monotonic(), 0
    while True:
        try:
            raw = await ws.receive_text()
        except WebSocketDisconnect:
            return
        now = time.monotonic()
        if now - window >= 1.0:
            window, count = now, 0
        count += 1
        if count > MAX_PER_SECOND:
            await ws.close(code=1008, reason="too many messages; slow down")
            return
        try:
            msg = json.loads(raw)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("type") == "heartbeat":
            await asyncio.to_thread(a.heartbeat, svc, who)
