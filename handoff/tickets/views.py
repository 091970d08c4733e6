"""Plain values the ticket modules hand out (never ORM rows), and their JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from bot.storage.models import Ticket, TicketComment
from handoff.tickets.states import SLA_RUNNING, Status


def epoch(naive_utc: dt.datetime | None) -> float | None:
    return naive_utc.replace(tzinfo=dt.timezone.utc).timestamp() if naive_utc is not None else None


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class TicketView:
    ticket_id: int
    ticket_no: str
    tenant_id: str
    status: Status
    priority: int
    category: str | None
    title: str
    description: str
    source: str
    session_id: int | None
    conversation_id: str | None
    customer_ref: str | None
    channel: str | None
    assignee_id: int | None
    created_by: int | None
    sla_minutes: int
    expired_at: float | None
    sla_paused_at: float | None
    escalation_level: int
    escalated_at: float | None
    created_at: float | None
    updated_at: float | None
    resolved_at: float | None
    closed_at: float | None

    def breached(self, now: float) -> bool:
        return self.status in SLA_RUNNING and self.expired_at is not None and now > self.expired_at

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        out = {"id": str(self.ticket_id), "number": self.ticket_no, "status": self.status.key,
               "status_label": self.status.label, "priority": self.priority, "category": self.category,
               "title": self.title, "description": self.description, "source": self.source,
               "session_id": str(self.session_id) if self.session_id else None,
               "conversation_id": self.conversation_id, "customer_ref": self.customer_ref, "channel": self.channel,
               "assignee_id": str(self.assignee_id) if self.assignee_id else None,
               "created_by": str(self.created_by) if self.created_by else None, "sla_minutes": self.sla_minutes,
               "expired_at": self.expired_at, "sla_paused": self.sla_paused_at is not None,
               "escalation_level": self.escalation_level, "escalated_at": self.escalated_at,
               "created_at": self.created_at, "updated_at": self.updated_at, "resolved_at": self.resolved_at,
               "closed_at": self.closed_at}  # fmt: skip
        if now is not None:
            out["breached"] = self.breached(now)
            out["sla_seconds_left"] = (round(self.expired_at - now) if self.expired_at is not None
                                       and self.status in SLA_RUNNING else None)  # fmt: skip
        return out


def view(t: Ticket) -> TicketView:
    return TicketView(t.ticket_id, t.ticket_no or str(t.ticket_id), t.tenant_id, Status(t.status), t.priority,
                      t.category, t.title or "", t.description or "", t.source or "agent", t.session_id,
                      t.conversation_id, t.customer_ref, t.channel, t.assignee_id, t.created_by, t.sla_minutes,
                      epoch(t.expired_at), epoch(t.sla_paused_at), int(t.escalation_level or 0),
                      epoch(t.escalated_at), epoch(t.created_at), epoch(t.updated_at), epoch(t.resolved_at),
                      epoch(t.closed_at))  # fmt: skip


@dataclass(frozen=True)
class CommentView:
    comment_id: int
    author_id: int | None
    author_role: str
    text: str
    created_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {"id": str(self.comment_id), "author_id": str(self.author_id) if self.author_id else None,
                "author_role": self.author_role, "text": self.text, "created_at": self.created_at}  # fmt: skip


def comment_view(c: TicketComment) -> CommentView:
    return CommentView(c.comment_id, c.commenter_id, c.author_role or "agent", c.content or "", epoch(c.created_at))
