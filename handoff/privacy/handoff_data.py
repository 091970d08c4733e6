"""The handoff's records of a customer: sessions (``cs_session``) with their history (``cs_session_event``),
offers, the inbox feed (``cs_agent_feed``) and the working transcript (``cs_handoff_line``), in one transaction;
and the messages customers left (``cs_left_message``), which may have no session. Sealed columns read as
plaintext through the ORM (``bot.storage.sealed``).

A session still open (queued, with an agent, warned) is not erased: an agent is talking to the customer now.
The erase is refused (409) until it closes; the purge leaves it for tomorrow.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session as Db

from bot.errors import Conflict
from bot.privacy import sql
from bot.privacy.base import Cursor, Record, Store
from bot.privacy.subject import Subject
from bot.storage.db import Database
from bot.storage.models import Session
from handoff.domain import OPEN_CODES
from handoff.live import LiveSessions
from handoff.models import AgentFeed, HandoffLine, LeftMessage, Offer, SessionEvent

ROLE = {HandoffLine.FROM_USER: "customer", HandoffLine.FROM_AGENT: "agent", HandoffLine.FROM_BOT: "bot"}
SESSION_COLUMNS = ("session_id", "conversation_id", "channel", "customer_ref", "customer_name", "session_state",
                   "agent_id", "skill_group", "reason", "tags", "priority", "summary", "csat", "created_at",
                   "closed_at", "last_msg_time", "transfer_note")  # fmt: skip


def _matching(model: Any, subject: Subject, part: list[str]) -> Any:
    cond = model.conversation_id.in_(part)
    if subject.by_ref and subject.customer is not None:
        cond = or_(cond, model.customer_ref == subject.customer)
    return cond


class HandoffStore(Store):
    name = "handoff"

    def __init__(self, db: Database, live: LiveSessions | None = None) -> None:
        self.db, self.live = db, live

    def _sessions(self, s: Db, subject: Subject) -> list[Session]:
        found: dict[int, Session] = {}
        for part in sql.chunks(subject.conversations) if subject.conversations else [[]]:
            q = select(Session).where(Session.tenant_id == subject.tenant, _matching(Session, subject, part))
            found.update({x.session_id: x for x in s.scalars(q)})
        return sorted(found.values(), key=lambda x: x.session_id)

    def conversations(self, tenant: str, customer: str) -> set[str]:
        with self.db.session() as s:
            return {c for c in s.scalars(select(Session.conversation_id).distinct().where(
                Session.tenant_id == tenant, Session.customer_ref == customer)) if c}  # fmt: skip

    def check(self, subject: Subject) -> None:
        with self.db.session() as s:
            if any(x.session_state in OPEN_CODES for x in self._sessions(s, subject)):
                raise Conflict("a handoff session of this customer is open (queued or with an agent); close it first")

    def export(self, subject: Subject) -> list[Record]:
        out: list[Record] = []
        with self.db.session() as s:
            for x in self._sessions(s, subject):
                sid = x.session_id
                lines = s.scalars(select(HandoffLine).where(HandoffLine.session_id == sid,
                                                            HandoffLine.tenant_id == x.tenant_id)
                                  .order_by(HandoffLine.created_at, HandoffLine.msg_id))  # fmt: skip
                history = s.scalars(select(SessionEvent).where(SessionEvent.session_id == sid)
                                    .order_by(SessionEvent.at))  # fmt: skip
                notices = s.scalars(select(AgentFeed).where(AgentFeed.session_id == sid).order_by(AgentFeed.seq))
                out.append({**sql.row_dict(x, SESSION_COLUMNS),
                            "lines": [{"msg_id": str(m.msg_id), "role": ROLE.get(m.sender_role or 0, "customer"),
                                       "at": sql.plain(m.created_at), **_body(m.content)} for m in lines],
                            "history": [{"event": e.event, "from": e.from_state, "to": e.to_state, "at": e.at,
                                         "detail": e.detail} for e in history],
                            "inbox_notices": [{"kind": f.kind, "at": f.at, "payload": f.payload} for f in notices]})
        return out

    def count(self, subject: Subject) -> int:
        with self.db.session() as s:
            ids = [x.session_id for x in self._sessions(s, subject)]
            n = len(ids)
            for model in (HandoffLine, SessionEvent, Offer, AgentFeed):
                n += sum(int(s.scalar(select(func.count()).select_from(model).where(model.session_id.in_(part))) or 0)
                         for part in sql.chunks(ids))  # fmt: skip
            return n

    def erase(self, subject: Subject) -> int:
        removed, gone = 0, []
        with self.db.session() as s:
            sessions = self._sessions(s, subject)
            ids = [x.session_id for x in sessions]
            for part in sql.chunks(ids):
                for model in (HandoffLine, SessionEvent, Offer, AgentFeed):
                    removed += s.execute(delete(model).where(model.session_id.in_(part))).rowcount
                removed += s.execute(delete(Session).where(Session.session_id.in_(part))
                                     .execution_options(synchronize_session=False)).rowcount  # fmt: skip
            gone = [(x.tenant_id, x.conversation_id or "", x.session_id) for x in sessions]
        if self.live is not None:  # after the commit, as the service does when a session closes
            for tenant, conv, sid in gone:
                self.live.closed(tenant, conv, sid)
        return removed

    def tenants(self) -> set[str]:
        with self.db.session() as s:
            return sql.tenants(s, Session.tenant_id)

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        with self.db.session() as s:
            return sql.idle(s, Session.tenant_id, Session.conversation_id, Session.created_at, sql.utc(cutoff),
                            after, limit)  # fmt: skip

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        at = sql.utc(cutoff)
        out: set[str] = set()
        with self.db.session() as s:
            for part in sql.chunks(conversations):
                q = select(Session.conversation_id).distinct().where(
                    Session.tenant_id == tenant, Session.conversation_id.in_(part),
                    or_(Session.created_at >= at, Session.closed_at >= at, Session.last_msg_time >= at,
                        Session.session_state.in_(OPEN_CODES)))  # fmt: skip
                out |= {str(c) for c in s.scalars(q)}
        return out

    def sweep(self, cutoff: float, tenants: Collection[str], dry_run: bool) -> dict[str, int]:
        """Inbox notices older than the age: delivered long ago (an agent resumes from minutes back)."""
        out: dict[str, int] = {}
        with self.db.session() as s:
            for tenant in sorted(tenants):
                old = (AgentFeed.tenant_id == tenant, AgentFeed.at < cutoff)
                n = (s.scalar(select(func.count()).select_from(AgentFeed).where(*old)) if dry_run
                     else s.execute(delete(AgentFeed).where(*old)).rowcount)  # fmt: skip
                if n:
                    out[tenant] = int(n)
        return out


def _body(content: str | None) -> dict[str, Any]:
    try:
        body = json.loads(content or "{}")
    except ValueError:
        return {"text": content or ""}
    return body if isinstance(body, dict) else {"text": str(body)}


class LeftMessageStore(Store):
    name = "left_messages"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _rows(self, s: Db, subject: Subject) -> list[LeftMessage]:
        found: dict[int, LeftMessage] = {}
        for part in sql.chunks(subject.conversations) if subject.conversations else [[]]:
            q = select(LeftMessage).where(LeftMessage.tenant_id == subject.tenant,
                                          _matching(LeftMessage, subject, part))  # fmt: skip
            found.update({x.left_id: x for x in s.scalars(q)})
        return sorted(found.values(), key=lambda x: x.left_id)

    def conversations(self, tenant: str, customer: str) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(LeftMessage.conversation_id).distinct().where(
                LeftMessage.tenant_id == tenant, LeftMessage.customer_ref == customer)))  # fmt: skip

    def export(self, subject: Subject) -> list[Record]:
        with self.db.session() as s:
            return [{"conversation_id": x.conversation_id, "reason": x.reason, "text": x.text, "status": x.status,
                     "at": sql.plain(x.created_at)} for x in self._rows(s, subject)]  # fmt: skip

    def erase(self, subject: Subject) -> int:
        with self.db.session() as s:
            ids = [x.left_id for x in self._rows(s, subject)]
            return sum(s.execute(delete(LeftMessage).where(LeftMessage.left_id.in_(part))).rowcount
                       for part in sql.chunks(ids))  # fmt: skip

    def tenants(self) -> set[str]:
        with self.db.session() as s:
            return sql.tenants(s, LeftMessage.tenant_id)

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        with self.db.session() as s:
            return sql.idle(s, LeftMessage.tenant_id, LeftMessage.conversation_id, LeftMessage.created_at,
                            sql.utc(cutoff), after, limit)  # fmt: skip

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        with self.db.session() as s:
            return sql.active(s, LeftMessage.tenant_id, LeftMessage.conversation_id, LeftMessage.created_at, tenant,
                              conversations, sql.utc(cutoff))  # fmt: skip
