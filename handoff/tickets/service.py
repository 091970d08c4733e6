"""The ticket service: the same calls for the agent API, the CLI, the handoff clock and the tests.

Each call is one transaction: the row, its comment, its event on the stream (``bot.events.outbox``, in the same
transaction, so a reader never sees a change that rolled back), the audit row and the agents' feed rows commit
together; what the customer must hear is said after the commit (through the handoff's customer channel).
Every query filters on the caller's tenant: another tenant's ticket is a 404, never a 403 that admits it exists.
Status changes are compare-and-sets on the row's status, so two agents (or instances) never both move it.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as Db

from bot.audit import audit_by
from bot.errors import Conflict, Forbidden, InvalidInput, NotFound
from bot.events.outbox import event, publish
from bot.ids import new_id
from bot.security import Principal
from bot.storage.db import retry_transient
from bot.storage.models import Message, Session, Ticket, TicketComment
from handoff import repository as repo
from handoff.service import Effects, HandoffService
from handoff.tickets import policy
from handoff.tickets.config import PRIORITIES, TicketsConfig
from handoff.tickets.states import Move, Status, move
from handoff.tickets.views import CommentView, TicketView, comment_view, epoch, utc, view

log = logging.getLogger(__name__)
MAX_TITLE, MAX_DESCRIPTION, MAX_COMMENT = 255, 8000, 4000
SUPERVISORS = frozenset({"supervisor", "admin"})


@dataclass(frozen=True)
class NewTicket:
    """A ticket to open: by an agent, or by the handoff clock from an event it saw (``source_key``)."""

    tenant_id: str
    title: str
    description: str = ""
    category: str | None = None
    priority: int = 3
    source: str = "agent"
    source_key: str | None = None  # one ticket per source event: a second attempt finds the first
    session_id: int | None = None
    conversation_id: str | None = None
    customer_id: int | None = None
    customer_ref: str | None = None
    channel: str | None = None
    assignee_id: int | None = None
    created_by: int | None = None
    customer_line: str | None = policy.CREATED  # what the customer is told (None: nothing; their channel failed)


@dataclass(frozen=True)
class TicketQuery:
    status: tuple[Status, ...] = ()
    priority: int | None = None
    category: str | None = None
    assignee: str | None = None  # "me", "none" or an agent id
    source: str | None = None
    conversation_id: str | None = None
    breached: bool | None = None
    text: str = ""  # a ticket number, or words of the title
    before: int | None = None  # the last ticket id of the previous page
    limit: int = 50


def is_supervisor(who: Principal) -> bool:
    return bool(SUPERVISORS & who.roles)


def check_category(category: Any) -> str | None:
    if category is None or category == "":
        return None
    if not isinstance(category, str) or category not in policy.CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(policy.CATEGORIES)}")
    return category


def check_priority(priority: Any) -> int:
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in PRIORITIES:
        raise InvalidInput("priority must be 1 (紧急), 2 (高), 3 (中) or 4 (低)")
    return priority


_SERVICES: weakref.WeakKeyDictionary[HandoffService, TicketService] = weakref.WeakKeyDictionary()


def tickets_of(handoff: HandoffService, cfg: TicketsConfig | None = None) -> TicketService:
    """The ticket service beside a handoff service (one per handoff service; ``cfg`` the first time)."""
    svc = _SERVICES.get(handoff)
    if svc is None or (cfg is not None and svc.cfg != cfg):
        svc = _SERVICES[handoff] = TicketService(handoff, cfg or TicketsConfig())
    return svc


class TicketService:
    def __init__(self, handoff: HandoffService, cfg: TicketsConfig) -> None:
        self.handoff, self.cfg = handoff, cfg
        self.db = handoff.db
        self.last_sweep = float("-inf")

    def now(self) -> float:
        return self.handoff.clock()

    # --- creating --------------------------------------------------------------------------------------
    @retry_transient
    def create(self, who: Principal, *, title: str, description: str = "", category: str | None = None,
               priority: int | None = None, session_id: int | None = None, conversation_id: str | None = None,
               assignee_id: int | None = None) -> TicketView:  # fmt: skip
        """An agent's ticket from a conversation (a handoff session, or a conversation the archive holds)."""
        title, description = title.strip(), description.strip()
        if not title or len(title) > MAX_TITLE:
            raise InvalidInput(f"title must be 1 to {MAX_TITLE} characters")
        if len(description) > MAX_DESCRIPTION:
            raise InvalidInput(f"description must be at most {MAX_DESCRIPTION} characters")
        category = check_category(category)
        prio = check_priority(priority) if priority is not None else policy.priority_of(category)
        if session_id is None and not conversation_id:
            raise InvalidInput("a ticket comes from a conversation: give session_id or conversation_id")
        fx = Effects()
        with self.db.session() as db:
            s = self._session_of(db, who.tenant_id, session_id, conversation_id)
            if assignee_id is not None:
                self._check_assignee(db, who, assignee_id)
            new = NewTicket(who.tenant_id, title, description, category, prio, "agent", None,
                            s.session_id if s else None, s.conversation_id if s else conversation_id,
                            s.customer_id if s else None, s.customer_ref if s else None, s.channel if s else None,
                            assignee_id, who.user_id)  # fmt: skip
            t = self.insert(db, fx, new)
            assert t is not None  # agents' tickets have no source key
            audit_by(db, who, "ticket.create", "ticket", str(t.ticket_id), {"number": t.ticket_no})
            out = view(t)
        self.handoff.deliver(fx)
        return out

    def _session_of(self, db: Db, tenant: str, session_id: int | None, conversation_id: str | None) -> Session | None:
        if session_id is not None:
            s = repo.get_session(db, tenant, session_id)
            if s is None:
                raise NotFound(f"no session {session_id}")
            return s
        assert conversation_id is not None
        s = db.scalar(select(Session).where(Session.tenant_id == tenant, Session.conversation_id == conversation_id)
                      .order_by(Session.created_at.desc()).limit(1))  # fmt: skip
        if s is None and db.scalar(select(Message.msg_id).where(
                Message.tenant_id == tenant, Message.conversation_id == conversation_id).limit(1)) is None:  # fmt: skip
            raise NotFound(f"no conversation {conversation_id[:128]}")
        return s

    def insert(self, db: Db, fx: Effects, new: NewTicket) -> Ticket | None:
        """Open a ticket inside the caller's transaction; None when ``new.source_key`` already has one. The number
        is the day's next: a racing instance that took it first makes this one try the next (a savepoint)."""
        now = self.now()
        at = utc(now)
        day = policy.day_code(at, self.cfg)
        last = db.scalar(select(Ticket.ticket_no).where(Ticket.tenant_id == new.tenant_id,
                                                        Ticket.ticket_no.like(f"{day}%"))
                         .order_by(func.length(Ticket.ticket_no).desc(), Ticket.ticket_no.desc()).limit(1))  # fmt: skip
        n = policy.sequence_of(last, day) if last else 0
        minutes = self.cfg.sla(new.priority)
        for attempt in range(1, 51):
            t = Ticket(ticket_id=new_id(), tenant_id=new.tenant_id, ticket_no=policy.ticket_no(day, n + attempt),
                       session_id=new.session_id, customer_id=new.customer_id, category=new.category,
                       title=new.title[:MAX_TITLE], description=new.description[:MAX_DESCRIPTION] or None,
                       priority=new.priority, status=int(Status.NEW), assignee_id=new.assignee_id,
                       sla_minutes=minutes, expired_at=policy.deadline(at, new.priority, self.cfg), created_at=at,
                       updated_at=at, conversation_id=new.conversation_id, customer_ref=new.customer_ref,
                       channel=new.channel, source=new.source, source_key=new.source_key,
                       created_by=new.created_by, escalation_level=0)  # fmt: skip
            try:
                with db.begin_nested():
                    db.add(t)
                    db.flush()
                break
            except IntegrityError:
                if new.source_key and self._by_source(db, new.tenant_id, new.source_key) is not None:
                    return None  # another instance opened it first
        else:
            raise Conflict("could not number the ticket; try again")
        self._publish(db, t, "created", None, now)
        who = {new.assignee_id, None} if new.assignee_id else {None}
        self._feed(db, fx, t, "created", who, now)
        if new.customer_line and t.conversation_id:
            fx.customer.append(("say", t.conversation_id, (new.customer_line.format(
                no=t.ticket_no, within=policy.minutes_text(minutes)),)))  # fmt: skip
        return t

    @staticmethod
    def _by_source(db: Db, tenant: str, key: str) -> Ticket | None:
        return db.scalar(select(Ticket).where(Ticket.tenant_id == tenant, Ticket.source_key == key))

    # --- reading ---------------------------------------------------------------------------------------
    def _get(self, db: Db, tenant: str, ticket_id: int) -> Ticket:
        t = db.scalar(select(Ticket).where(Ticket.tenant_id == tenant, Ticket.ticket_id == ticket_id))
        if t is None:
            raise NotFound(f"no ticket {ticket_id}")
        return t

    def get(self, who: Principal, ticket_id: int) -> tuple[TicketView, list[CommentView]]:
        with self.db.session() as db:
            t = self._get(db, who.tenant_id, ticket_id)
            rows = db.scalars(select(TicketComment).where(TicketComment.tenant_id == who.tenant_id,
                                                          TicketComment.ticket_id == ticket_id)
                              .order_by(TicketComment.created_at, TicketComment.comment_id))  # fmt: skip
            return view(t), [comment_view(c) for c in rows]

    def by_number(self, who: Principal, number: str) -> TicketView:
        with self.db.session() as db:
            t = db.scalar(select(Ticket).where(Ticket.tenant_id == who.tenant_id, Ticket.ticket_no == number))
            if t is None:
                raise NotFound(f"no ticket {number[:20]}")
            return view(t)

    def list(self, who: Principal, q: TicketQuery) -> list[TicketView]:
        stmt = select(Ticket).where(Ticket.tenant_id == who.tenant_id)
        if q.status:
            stmt = stmt.where(Ticket.status.in_([int(s) for s in q.status]))
        if q.priority is not None:
            stmt = stmt.where(Ticket.priority == q.priority)
        if q.category:
            stmt = stmt.where(Ticket.category == q.category)
        if q.source:
            stmt = stmt.where(Ticket.source == q.source)
        if q.conversation_id:
            stmt = stmt.where(Ticket.conversation_id == q.conversation_id)
        if q.assignee == "me":
            stmt = stmt.where(Ticket.assignee_id == who.user_id)
        elif q.assignee == "none":
            stmt = stmt.where(Ticket.assignee_id.is_(None))
        elif q.assignee:
            stmt = stmt.where(Ticket.assignee_id == int(q.assignee))
        if q.breached is not None:
            late = Ticket.status.in_((int(Status.NEW), int(Status.IN_PROGRESS))) & (Ticket.expired_at < utc(self.now()))
            stmt = stmt.where(late if q.breached else ~late)
        if q.text:
            # the user's words are bound parameters; LIKE's own wildcards in them are escaped, never patterns
            like = q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where((Ticket.ticket_no == q.text) | Ticket.title.like(f"%{like}%", escape="\\"))
        if q.before is not None:
            stmt = stmt.where(Ticket.ticket_id < q.before)
        with self.db.session() as db:
            return [view(t) for t in db.scalars(stmt.order_by(Ticket.ticket_id.desc()).limit(q.limit))]

    # --- changing --------------------------------------------------------------------------------------
    def _may_change(self, who: Principal, t: Ticket) -> None:
        """Supervisors change any ticket of their tenant; an agent theirs, or an unassigned one (which is then
        theirs)."""
        if not is_supervisor(who) and t.assignee_id not in (None, who.user_id):
            raise Forbidden(f"ticket {t.ticket_no} is assigned to another agent")

    @retry_transient
    def move(self, who: Principal, ticket_id: int, to: Status, note: str = "", reply: str = "") -> TicketView:
        """Move a ticket; ``note`` is kept as an internal comment, ``reply`` is what the customer reads (on 待客户:
        the question to them; on 已解决: the outcome)."""
        note, reply = note.strip(), reply.strip()
        if len(note) > MAX_COMMENT or len(reply) > MAX_COMMENT:
            raise InvalidInput(f"note and reply have at most {MAX_COMMENT} characters")
        now, fx = self.now(), Effects()
        with self.db.session() as db:
            t = self._get(db, who.tenant_id, ticket_id)
            self._may_change(who, t)
            m = move(Status(t.status), to)
            values = self.move_values(t, m, now)
            if t.assignee_id is None and not is_supervisor(who):
                values["assignee_id"] = who.user_id
            self._cas(db, t, m.before, **values)
            if note or reply:
                text = "\n".join(x for x in (note, f"（回复客户）{reply}" if reply else "") if x)
                self._comment(db, t, who.user_id, "supervisor" if is_supervisor(who) else "agent", text)
            self._publish(db, t, "moved", m.before, now, {"note": bool(note)})
            self._feed(db, fx, t, "moved", {t.assignee_id} - {who.user_id}, now)
            audit_by(db, who, "ticket.move", "ticket", str(t.ticket_id), {"from": m.before.key, "to": m.after.key})
            line = self.customer_line(t, m, reply)
            if line and t.conversation_id:
                fx.customer.append(("say", t.conversation_id, (line,)))
            out = view(t)
        self.handoff.deliver(fx)
        return out

    def move_values(self, t: Ticket, m: Move, now: float) -> dict[str, Any]:
        """What a move does to the SLA clock and the timestamps: 待客户 pauses the clock, leaving it resumes it
        with the time that was left, a reopen starts a fresh one."""
        at = utc(now)
        values: dict[str, Any] = {"status": int(m.after), "updated_at": at}
        if m.pauses_sla:
            values["sla_paused_at"] = at
        elif m.before is Status.WAITING_CUSTOMER:
            values["sla_paused_at"] = None
            if m.resumes_sla and t.expired_at is not None and t.sla_paused_at is not None:
                values["expired_at"] = t.expired_at + (at - t.sla_paused_at)
        if m.reopens:
            values.update(expired_at=policy.deadline(at, t.priority, self.cfg), resolved_at=None)
        if m.after is Status.RESOLVED:
            values["resolved_at"] = at
        if m.after is Status.CLOSED:
            values["closed_at"] = at
        return values

    @staticmethod
    def customer_line(t: Ticket, m: Move, reply: str) -> str | None:
        if m.after is Status.RESOLVED:
            return policy.resolved_line(t.ticket_no or "", reply)
        if m.after is Status.WAITING_CUSTOMER and reply:
            return policy.WAITING_CUSTOMER.format(no=t.ticket_no, note=reply[:500])
        return None

    def _cas(self, db: Db, t: Ticket, before: Status, **values: Any) -> None:
        done = db.execute(update(Ticket).where(Ticket.ticket_id == t.ticket_id, Ticket.tenant_id == t.tenant_id,
                                               Ticket.status == int(before)).values(**values)
                          .execution_options(synchronize_session=False))  # fmt: skip
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"ticket {t.ticket_no} changed meanwhile; reload it")
        db.refresh(t)

    def _check_assignee(self, db: Db, who: Principal, agent_id: int) -> None:
        if agent_id != who.user_id and not is_supervisor(who):
            raise Forbidden("only a supervisor assigns tickets to others")
        if agent_id not in {u.user_id for u in repo.staff(db, who.tenant_id)}:
            raise NotFound(f"no agent {agent_id}")

    @retry_transient
    def assign(self, who: Principal, ticket_id: int, agent_id: int | None) -> TicketView:
        """Give a ticket to an agent (an agent may take an unassigned one; a supervisor assigns or unassigns)."""
        now, fx = self.now(), Effects()
        with self.db.session() as db:
            t = self._get(db, who.tenant_id, ticket_id)
            if Status(t.status) is Status.CLOSED:
                raise Conflict(f"ticket {t.ticket_no} is closed")
            self._may_change(who, t)
            if agent_id is None:
                if not is_supervisor(who):
                    raise Forbidden("only a supervisor unassigns tickets")
            else:
                self._check_assignee(db, who, agent_id)
            before = t.assignee_id
            self._cas(db, t, Status(t.status), assignee_id=agent_id, updated_at=utc(now))
            self._publish(db, t, "assigned", Status(t.status), now, {"from_assignee": str(before) if before else None})
            self._feed(db, fx, t, "assigned", {agent_id} - {who.user_id, None}, now)
            audit_by(db, who, "ticket.assign", "ticket", str(t.ticket_id),
                     {"from": str(before) if before else None, "to": str(agent_id) if agent_id else None})
            out = view(t)
        self.handoff.deliver(fx)
        return out

    @retry_transient
    def comment(self, who: Principal, ticket_id: int, text: str) -> CommentView:
        text = text.strip()
        if not text or len(text) > MAX_COMMENT:
            raise InvalidInput(f"a comment is 1 to {MAX_COMMENT} characters")
        now, fx = self.now(), Effects()
        with self.db.session() as db:
            t = self._get(db, who.tenant_id, ticket_id)
            c = self._comment(db, t, who.user_id, "supervisor" if is_supervisor(who) else "agent", text)
            t.updated_at = utc(now)
            self._feed(db, fx, t, "commented", {t.assignee_id} - {who.user_id, None}, now)
            audit_by(db, who, "ticket.comment", "ticket", str(t.ticket_id), {"comment_id": str(c.comment_id)})
            db.flush()
            out = comment_view(c)
        self.handoff.deliver(fx)
        return out

    def _comment(self, db: Db, t: Ticket, author: int | None, role: str, text: str) -> TicketComment:
        c = TicketComment(comment_id=new_id(), tenant_id=t.tenant_id, ticket_id=t.ticket_id, commenter_id=author,
                          author_role=role, content=text[:MAX_COMMENT], created_at=utc(self.now()))  # fmt: skip
        db.add(c)
        return c

    # --- what others hear ------------------------------------------------------------------------------
    def _publish(self, db: Db, t: Ticket, what: str, before: Status | None, now: float,
                 extra: dict[str, Any] | None = None) -> None:  # fmt: skip
        """The change on the event stream, in this transaction; keyed by the conversation so it stays in order
        with the conversation's messages."""
        data = {"ticket_id": str(t.ticket_id), "number": t.ticket_no, "event": what,
                "from": before.key if before is not None else None, "to": Status(t.status).key,
                "priority": t.priority, "category": t.category, "source": t.source,
                "assignee_id": str(t.assignee_id) if t.assignee_id else None, "sla_minutes": t.sla_minutes,
                "expired_at": epoch(t.expired_at), "escalation_level": int(t.escalation_level or 0),
                "session_id": str(t.session_id) if t.session_id else None, **(extra or {})}  # fmt: skip
        key = t.conversation_id or f"ticket:{t.ticket_id}"
        publish(db, [event("ticket", t.tenant_id, key, data, at=now)])

    def _feed(self, db: Db, fx: Effects, t: Ticket, what: str, agents: set[int | None], now: float) -> None:
        """Feed rows (``None``: the tenant's supervisors), pushed to their inboxes after the commit."""
        payload = {"event": what, "ticket": view(t).to_json(now)}
        for agent in agents:
            repo.feed(db, t.tenant_id, agent, "ticket", t.session_id, payload, now)
            fx.agents.add((t.tenant_id, agent))
