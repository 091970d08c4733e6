"""Tickets (``cs_ticket``) and their comments, and the inbox notices about tickets that had no session. A ticket
is the subject's when it names one of their conversations, their customer ref (a plain customer id was asked),
or one of their handoff sessions. Description and comments read as plaintext through the ORM."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session as Db

from bot.privacy import sql
from bot.privacy.base import Cursor, Record, Store
from bot.privacy.subject import Subject
from bot.storage.db import Database
from bot.storage.models import Session, Ticket, TicketComment
from handoff.models import AgentFeed

COLUMNS = ("ticket_id", "ticket_no", "conversation_id", "customer_ref", "channel", "category", "title", "description",
           "priority", "status", "source", "created_at", "updated_at", "resolved_at", "closed_at")  # fmt: skip


class TicketStore(Store):
    name = "tickets"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _tickets(self, s: Db, subject: Subject) -> list[Ticket]:
        found: dict[int, Ticket] = {}
        for part in sql.chunks(subject.conversations) if subject.conversations else [[]]:
            sessions = select(Session.session_id).where(Session.tenant_id == subject.tenant,
                                                        Session.conversation_id.in_(part))  # fmt: skip
            cond = or_(Ticket.conversation_id.in_(part), Ticket.session_id.in_(sessions))
            if subject.by_ref and subject.customer is not None:
                cond = or_(cond, Ticket.customer_ref == subject.customer)
            found.update({t.ticket_id: t for t in s.scalars(select(Ticket).where(Ticket.tenant_id == subject.tenant,
                                                                                  cond))})  # fmt: skip
        return sorted(found.values(), key=lambda t: t.ticket_id)

    def _notices(self, s: Db, tenant: str, ids: set[int]) -> list[int]:
        """Feed rows about these tickets that no session of theirs carries (the handoff store takes the rest)."""
        if not ids:
            return []
        rows = s.scalars(select(AgentFeed).where(AgentFeed.tenant_id == tenant, AgentFeed.kind == "ticket",
                                                 AgentFeed.session_id.is_(None)))  # fmt: skip
        return [f.seq for f in rows if str(_ticket_id(f.payload)) in {str(i) for i in ids}]

    def conversations(self, tenant: str, customer: str) -> set[str]:
        with self.db.session() as s:
            return {c for c in s.scalars(select(Ticket.conversation_id).distinct().where(
                Ticket.tenant_id == tenant, Ticket.customer_ref == customer)) if c}  # fmt: skip

    def export(self, subject: Subject) -> list[Record]:
        with self.db.session() as s:
            out = []
            for t in self._tickets(s, subject):
                comments = s.scalars(select(TicketComment).where(TicketComment.ticket_id == t.ticket_id,
                                                                 TicketComment.tenant_id == t.tenant_id)
                                     .order_by(TicketComment.created_at, TicketComment.comment_id))  # fmt: skip
                said = [{"author_role": c.author_role, "text": c.content, "at": sql.plain(c.created_at)}
                        for c in comments]
                out.append({**sql.row_dict(t, COLUMNS), "comments": said})
            return out

    def count(self, subject: Subject) -> int:
        with self.db.session() as s:
            ids = [t.ticket_id for t in self._tickets(s, subject)]
            return len(ids) + sum(int(s.scalar(select(func.count()).select_from(TicketComment)
                                               .where(TicketComment.ticket_id.in_(part))) or 0)
                                  for part in sql.chunks(ids))  # fmt: skip

    def erase(self, subject: Subject) -> int:
        removed = 0
        with self.db.session() as s:
            ids = [t.ticket_id for t in self._tickets(s, subject)]
            for seqs in sql.chunks(self._notices(s, subject.tenant, set(ids))):
                removed += s.execute(delete(AgentFeed).where(AgentFeed.seq.in_(seqs))).rowcount
            for part in sql.chunks(ids):
                removed += s.execute(delete(TicketComment).where(TicketComment.ticket_id.in_(part))).rowcount
                removed += s.execute(delete(Ticket).where(Ticket.ticket_id.in_(part))
                                     .execution_options(synchronize_session=False)).rowcount  # fmt: skip
        return removed

    def tenants(self) -> set[str]:
        with self.db.session() as s:
            return sql.tenants(s, Ticket.tenant_id)

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        with self.db.session() as s:
            return sql.idle(s, Ticket.tenant_id, Ticket.conversation_id, Ticket.updated_at, sql.utc(cutoff), after,
                            limit)  # fmt: skip

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        with self.db.session() as s:
            return sql.active(s, Ticket.tenant_id, Ticket.conversation_id, Ticket.updated_at, tenant, conversations,
                              sql.utc(cutoff))  # fmt: skip


def _ticket_id(payload: Any) -> Any:
    ticket = payload.get("ticket") if isinstance(payload, dict) else None
    return ticket.get("id") if isinstance(ticket, dict) else None
