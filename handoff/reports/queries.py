"""The SQL of period reports: tenant-scoped, bounded by the period, on indexed columns only, the same on
SQLite and MySQL/MariaDB (no date functions: the shop's days are cut in Python and passed as bounds).

* the archive (cs_message): one grouped query per shop day on ``idx_msg_tenant_time`` (tenant_id, created_at);
  no body is read, so nothing is decrypted.
* sessions and their events: by primary key range. Session ids are Snowflake ids minted when the customer
  asked, so a period's sessions are one range of the primary key (cs_session has no index on its times;
  cs_session_event is indexed by (session_id, at)).
* tickets: by deadline, on ``idx_ticket_due``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session as Db

from bot.ids import EPOCH_MS, TIMESTAMP_SHIFT
from bot.storage.models import Message, Session, Ticket, User
from handoff.models import SessionEvent
from handoff.reports.metrics import ConversationDay, EventRow, SessionRow, TicketRow
from handoff.reports.periods import Period

ID_MARGIN_SECONDS = 300.0  # a row's id and its own clock may differ by a moment (another instance's clock)


def id_at(ts: float) -> int:
    """The smallest Snowflake id minted at epoch second ``ts`` (or at the id epoch, if before it)."""
    return max(0, int(ts * 1000) - EPOCH_MS) << TIMESTAMP_SHIFT


def naive_utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None)


def epoch(naive: Any) -> float | None:
    return naive.replace(tzinfo=dt.UTC).timestamp() if naive is not None else None


def conversation_days(db: Db, tenant_id: str, period: Period) -> list[ConversationDay]:
    out: list[ConversationDay] = []
    role = Message.sender_role

    def lines(code: int) -> Any:
        return func.sum(case((role == code, 1), else_=0))

    counts = (lines(Message.FROM_USER), lines(Message.FROM_BOT), lines(Message.FROM_AGENT))
    for day, start, end in period.day_bounds():
        q = (select(Message.conversation_id, *counts)
             .where(Message.tenant_id == tenant_id, Message.created_at >= naive_utc(start),
                    Message.created_at < naive_utc(end))
             .group_by(Message.conversation_id))  # fmt: skip
        out += [ConversationDay(str(c), day, int(u or 0), int(b or 0), int(a or 0)) for c, u, b, a in db.execute(q)]
    return out


def sessions(db: Db, tenant_id: str, period: Period) -> tuple[list[SessionRow], dict[int, list[EventRow]]]:
    """The tenant's sessions opened in the period (a margin either side; ``metrics.build`` keeps the period's
    own by when the customer asked) with their events, in the order they were written."""
    start, end = period.bounds()
    low, high = id_at(start - ID_MARGIN_SECONDS), id_at(end + ID_MARGIN_SECONDS)
    S = Session
    cols = (S.session_id, S.conversation_id, S.reason, S.created_at, S.queued_at, S.assigned_at, S.first_response_at,
            S.closed_at, S.agent_id, S.csat)  # fmt: skip
    q = select(*cols)
    q = q.where(Session.tenant_id == tenant_id, Session.session_id >= low, Session.session_id < high)
    rows = []
    for sid, conv, reason, created, queued, assigned, first, closed, agent, csat in db.execute(q):
        times = [x for x in (epoch(created), queued) if x is not None]  # as repository.day reads it
        asked = min(times) if times else start
        rows.append(SessionRow(int(sid), conv or "", reason, asked, assigned, first, epoch(closed),
                               int(agent) if agent is not None else None, csat))  # fmt: skip
    events: dict[int, list[EventRow]] = {}
    q2 = (select(SessionEvent.session_id, SessionEvent.event, SessionEvent.to_state, SessionEvent.actor_id,
                 SessionEvent.detail, SessionEvent.at)
          .where(SessionEvent.tenant_id == tenant_id, SessionEvent.session_id >= low, SessionEvent.session_id < high)
          .order_by(SessionEvent.session_id, SessionEvent.event_id))  # fmt: skip
    for sid, event, to_state, actor, detail, at in db.execute(q2):
        events.setdefault(int(sid), []).append(EventRow(int(sid), event, to_state, _assignee(event, detail, actor),
                                                        float(at)))  # fmt: skip
    return rows, events


def _assignee(event: str, detail: Any, actor: int | None) -> int | None:
    """Who an ``agent_assigned`` event gave the session to: its detail says (a supervisor may assign another);
    the actor when the detail is missing."""
    if event != "agent_assigned":
        return None
    named = detail.get("agent_id") if isinstance(detail, dict) else None
    try:
        return int(named) if named is not None else (int(actor) if actor is not None else None)
    except (TypeError, ValueError):
        return None


def tickets(db: Db, tenant_id: str, period: Period) -> list[TicketRow]:
    """Tickets whose (current) deadline falls in the period, on ``idx_ticket_due`` (status, expired_at): every
    status is named so the index's second column bounds the scan. A deadline moves when the SLA pauses or a
    ticket reopens, so the ticket's id (its creation) says nothing about it. A ticket resolved before
    ``resolved_at`` was kept (or on a schema without it) counts as resolved at its last update: at or after the
    truth, so compliance is never overstated."""
    start, end = period.bounds()
    resolved_col = getattr(Ticket, "resolved_at", None)
    cols: list[Any] = [Ticket.ticket_id, Ticket.category, Ticket.assignee_id, Ticket.expired_at, Ticket.status,
                       Ticket.updated_at, resolved_col if resolved_col is not None else Ticket.updated_at]  # fmt: skip
    every = (Ticket.NEW, Ticket.IN_PROGRESS, Ticket.WAITING_CUSTOMER, Ticket.RESOLVED, Ticket.CLOSED)
    q = select(*cols).where(Ticket.status.in_(every), Ticket.expired_at >= naive_utc(start),
                            Ticket.expired_at < naive_utc(end), Ticket.tenant_id == tenant_id)  # fmt: skip
    out = []
    done = (Ticket.RESOLVED, Ticket.CLOSED)
    for tid, category, assignee, expired, status, updated, resolved in db.execute(q):
        if resolved_col is None or (resolved is None and status in done):
            resolved = updated if status in done else None
        out.append(TicketRow(int(tid), category, int(assignee) if assignee is not None else None, epoch(expired),
                             epoch(resolved)))  # fmt: skip
    return out


def agent_names(db: Db, tenant_id: str, ids: Collection[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    wanted = sorted(ids)
    for i in range(0, len(wanted), 500):
        q = select(User.user_id, User.nick_name).where(User.tenant_id == tenant_id,
                                                       User.user_id.in_(wanted[i : i + 500]))  # fmt: skip
        out.update({int(u): str(n) for u, n in db.execute(q)})
    return out
