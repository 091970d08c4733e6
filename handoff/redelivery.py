"""An agent's line that Rasa did not take (an instance died mid-call, the conversation's lock was held past the
relay's patience) is sent again for a while before anyone is asked to follow up by hand.

The line is stored and marked undelivered at once, so the agent sees it did not arrive. A ``cs_left_message``
row (reason ``undelivered``, status ``retrying``) carries it: every instance's redelivery loop tries it every
``RETRY_EVERY`` seconds, the line id keeping it from being shown twice (the relay reads the conversation first).
Delivered, the mark is lifted and the agent's inbox told; still not delivered after ``RETRY_SECONDS``, the row
becomes a new left message and the tickets' sweep opens the follow-up ticket, as for a WeChat line refused.

Two instances never send one line at once: an instance takes a row by moving its ``retry_at`` past the lease
(a compare-and-set), and only the holder of the lease sends it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from bot.ids import new_id
from bot.storage.db import retry_transient
from bot.storage.models import Session
from handoff.models import HandoffLine, LeftMessage

if TYPE_CHECKING:
    from handoff.service import HandoffService

log = logging.getLogger(__name__)
RETRYING, DELIVERED, NEW = "retrying", "delivered", "new"
RETRY_SECONDS = 120.0  # then a follow-up ticket: a line minutes late reads as out of place
RETRY_EVERY = 5.0
LEASE_SECONDS = 60.0  # longer than one attempt can take (the relay's three tries)
WARNING = "这条消息暂时没有送达客户，系统会在两分钟内自动重发；仍未送达会生成跟进工单，请留意"


@dataclass(frozen=True)
class Due:
    left_id: int
    tenant_id: str
    line_id: int
    session_id: int
    conversation_id: str
    retry_until: float


@retry_transient
def schedule(svc: HandoffService, tenant_id: str, session_id: int, conversation: str, line_id: int,
             text: str) -> None:  # fmt: skip
    now = svc.clock()
    with svc.db.session() as db:
        db.add(LeftMessage(left_id=new_id(), tenant_id=tenant_id, session_id=session_id,
                           conversation_id=conversation, reason="undelivered", text=text or "(附件)",
                           status=RETRYING, line_id=line_id, retry_at=now + RETRY_EVERY,
                           retry_until=now + RETRY_SECONDS))  # fmt: skip


def redeliver_due(svc: HandoffService, limit: int = 20) -> int:
    """Try the lines whose turn it is; returns how many were delivered."""
    now, delivered = svc.clock(), 0
    with svc.db.session() as db:
        rows = db.scalars(select(LeftMessage).where(LeftMessage.status == RETRYING, LeftMessage.retry_at <= now)
                          .order_by(LeftMessage.retry_at).limit(limit)).all()  # fmt: skip
        due = [Due(r.left_id, r.tenant_id, int(r.line_id or 0), int(r.session_id or 0), r.conversation_id,
                   float(r.retry_until or 0.0)) for r in rows]  # fmt: skip
    for item in due:
        try:
            delivered += _one(svc, item, now)
        except Exception:  # one bad row must not stop the others; its lease runs out and it is tried again
            log.exception("redelivery of line %s failed", item.line_id)
    return delivered


def _one(svc: HandoffService, item: Due, now: float) -> bool:
    if now >= item.retry_until:
        _move(svc, item.left_id, NEW)  # the tickets' sweep opens the follow-up
        log.warning("an agent line to %s was still not delivered: a follow-up ticket", item.conversation_id)
        return False
    if not _lease(svc, item.left_id, now):
        return False  # another instance has it
    line, session = _load(svc, item)
    if line is None or session is None:
        _move(svc, item.left_id, NEW)
        return False
    body = json.loads(line.content or "{}")
    agent = {"id": str(line.sender_id), "name": svc.staff_name(item.tenant_id, line.sender_id)}
    args = (body.get("text") or "", None, agent, body.get("image_url"), _custom(body), str(line.msg_id), True)
    if svc.deliver(_effects(("say", item.conversation_id, args))):
        _retry_later(svc, item.left_id, now)
        return False
    _move(svc, item.left_id, DELIVERED)
    _delivered(svc, item, session.agent_id, now)
    log.info("an agent line to %s was delivered on a later try", item.conversation_id)
    return True


def _effects(customer: tuple[str, str, tuple[Any, ...]]) -> Any:
    from handoff.service import Effects

    return Effects(customer=[customer])


def _custom(body: dict[str, Any]) -> dict[str, Any] | None:
    file = body.get("file")
    return {"file": file} if isinstance(file, dict) else None


@retry_transient
def _lease(svc: HandoffService, left_id: int, now: float) -> bool:
    with svc.db.session() as db:
        mine = update(LeftMessage).where(LeftMessage.left_id == left_id, LeftMessage.status == RETRYING,
                                         LeftMessage.retry_at <= now)  # fmt: skip
        won = db.execute(mine.values(retry_at=now + LEASE_SECONDS).execution_options(synchronize_session=False))
        return bool(won.rowcount == 1)  # type: ignore[attr-defined]


@retry_transient
def _retry_later(svc: HandoffService, left_id: int, now: float) -> None:
    with svc.db.session() as db:
        db.execute(update(LeftMessage).where(LeftMessage.left_id == left_id, LeftMessage.status == RETRYING)
                   .values(retry_at=now + RETRY_EVERY).execution_options(synchronize_session=False))  # fmt: skip


@retry_transient
def _move(svc: HandoffService, left_id: int, status: str) -> None:
    with svc.db.session() as db:
        db.execute(update(LeftMessage).where(LeftMessage.left_id == left_id, LeftMessage.status == RETRYING)
                   .values(status=status).execution_options(synchronize_session=False))  # fmt: skip


def _load(svc: HandoffService, item: Due) -> tuple[HandoffLine | None, Session | None]:
    with svc.db.session() as db:
        line = db.get(HandoffLine, (item.line_id, item.session_id))
        session = db.scalar(select(Session).where(Session.session_id == item.session_id,
                                                  Session.tenant_id == item.tenant_id))  # fmt: skip
        if line is not None and line.tenant_id != item.tenant_id:
            line = None
        for row in (line, session):
            if row is not None:
                db.expunge(row)
        return line, session


@retry_transient
def _delivered(svc: HandoffService, item: Due, agent_id: int | None, now: float) -> None:
    """Lift the line's mark and tell the agent's inbox, which drops its "未送达客户"."""
    from handoff import repository as repo
    from handoff.service import Effects

    fx = Effects()
    with svc.db.session() as db:
        line = db.get(HandoffLine, (item.line_id, item.session_id))
        if line is not None:
            body = json.loads(line.content or "{}")
            body.pop("undelivered", None)
            line.content = json.dumps(body, ensure_ascii=False)
        payload = {"session_id": str(item.session_id), "message_id": str(item.line_id)}
        for agent in {agent_id, line.sender_id if line is not None else None} - {None}:
            repo.feed(db, item.tenant_id, agent, "delivered", item.session_id, payload, now)
            fx.agents.add((item.tenant_id, agent))
    svc.deliver(fx)
