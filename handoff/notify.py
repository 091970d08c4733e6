"""The ``notify`` hook (seed §2.4.2 Presence/Push): an agent's line the customer has not seen within
``notify_after_seconds`` is POSTed to the shop's own push service, which reaches the phone (APNs, FCM,
小程序订阅消息 live there, not here).

"Seen" is what the customer's side says: the web chat reports when an agent line is on a visible screen
(``/internal/seen``), and a customer who writes has seen what came before. One call per unseen line at most:
``notified_at`` is claimed by compare-and-set, so several handoff instances never call twice.

The body is JSON; ``X-Csbot-Timestamp`` and ``X-Csbot-Signature: sha256=<hex HMAC of "<timestamp>.<body>">``
with ``notify_secret`` let the push service check it came from here and is fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import and_, func, or_, select, update

from bot.storage.models import Session
from handoff import domain as d
from handoff.models import HandoffLine
from handoff.states import State

if TYPE_CHECKING:
    from handoff.service import HandoffService

log = logging.getLogger(__name__)
PREVIEW_CHARS = 60


@dataclass(frozen=True)
class Unseen:
    tenant_id: str
    session_id: int
    conversation_id: str
    channel: str
    customer_ref: str
    agent_id: int | None
    since: float

    def payload(self, agent_name: str, preview: str, count: int) -> dict[str, Any]:
        return {"event": "agent_message_unseen", "tenant_id": self.tenant_id, "session_id": str(self.session_id),
                "conversation_id": self.conversation_id, "channel": self.channel, "customer_id": self.customer_ref,
                "agent": {"id": str(self.agent_id or ""), "name": agent_name}, "unseen_since": self.since,
                "unseen_count": count, "preview": preview}  # fmt: skip


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def claim_due(svc: HandoffService, tenant_id: str, now: float) -> list[Unseen]:
    """The open chats whose latest agent line is older than the threshold and unseen, each claimed once."""
    cutoff = now - svc.cfg.notify_after_seconds
    open_codes = [d.STATE_CODE[State.ACTIVE], d.STATE_CODE[State.WARNING]]
    unseen = and_(Session.last_agent_at > func.coalesce(Session.customer_seen_at, 0),
                  or_(Session.notified_at.is_(None), Session.notified_at <= Session.last_agent_at))  # fmt: skip
    out: list[Unseen] = []
    with svc.db.session() as db:
        rows = list(db.scalars(select(Session).where(
            Session.tenant_id == tenant_id, Session.session_state.in_(open_codes), Session.last_agent_at <= cutoff,
            unseen).limit(200)))  # fmt: skip
        for s in rows:
            won = db.execute(update(Session).where(Session.session_id == s.session_id, unseen)
                             .values(notified_at=now)).rowcount  # type: ignore[attr-defined]  # fmt: skip
            if won:
                out.append(Unseen(s.tenant_id, s.session_id, s.conversation_id or "", s.channel or "",
                                  s.customer_ref or "", s.agent_id, float(s.last_agent_at or now)))  # fmt: skip
    return out


def _lines(svc: HandoffService, u: Unseen) -> tuple[str, int]:
    """The last unseen agent line (shortened) and how many there are."""
    from handoff.service import d_utc

    seen = None
    with svc.db.session() as db:
        s = db.get(Session, u.session_id)
        seen = s.customer_seen_at if s is not None else None
        q = select(HandoffLine).where(HandoffLine.session_id == u.session_id, HandoffLine.tenant_id == u.tenant_id,
                                  HandoffLine.sender_role == HandoffLine.FROM_AGENT)  # fmt: skip
        if seen:
            q = q.where(HandoffLine.created_at > d_utc(seen))
        msgs = list(db.scalars(q.order_by(HandoffLine.created_at.desc(), HandoffLine.msg_id.desc()).limit(50)))
    if not msgs:
        return "", 0
    body = json.loads(msgs[0].content or "{}")
    text = str(body.get("text") or ("[图片]" if body.get("image_url") else "[文件]" if body.get("file") else ""))
    return (text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"), len(msgs)


def notify_due(svc: HandoffService, tenant_id: str, now: float, client: httpx.Client | None = None) -> int:
    """Call the push service for each newly unseen chat; returns how many calls it accepted (2xx)."""
    cfg = svc.cfg
    if not cfg.notify_url:
        return 0
    sent = 0
    for u in claim_due(svc, tenant_id, now):
        preview, count = _lines(svc, u)
        agent = svc.staff_name(tenant_id, u.agent_id)
        body = json.dumps(u.payload(agent, preview, count), ensure_ascii=False).encode()
        stamp = str(int(now))
        headers = {"Content-Type": "application/json", "X-Csbot-Timestamp": stamp,
                   "X-Csbot-Signature": signature(cfg.notify_secret, stamp, body)}  # fmt: skip
        try:
            r = (client or httpx).post(cfg.notify_url, content=body, headers=headers, timeout=3.0)  # type: ignore[attr-defined]
            ok = 200 <= r.status_code < 300
        except httpx.HTTPError as exc:
            ok = False
            log.warning("notify hook %s failed: %s", cfg.notify_url, exc)
        if ok:
            sent += 1
        else:  # the line stays unseen; the next agent line tries again (a push service down is not retried per tick)
            log.warning("notify hook refused session %s", u.session_id)
    return sent
