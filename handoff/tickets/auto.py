"""Tickets the platform opens by itself, from what the handoff saw:

* a session that closes before any agent answered it, after a queue timeout or as a complaint (the customer
  gave up, or ended it): opened inside the very transaction that closes the session (``session_closed``,
  called by ``handoff.effects``). That close is a compare-and-set only one instance wins, and the ticket's
  ``source_key`` (``session:<id>``) is unique, so there is one ticket per session whatever runs the clock;
* a message left when nobody could take the chat, or an agent's line the channel refused (``cs_left_message``,
  ``sweep_left_messages`` on the handoff clock): the row moves new → ticketed by a compare-and-set in the
  transaction that opens the ticket. A message about a session that already has an open ticket is added to it
  as the customer's comment, not a second ticket.

* repeated bot failure in one conversation: the action server leaves the unanswered questions as a message with
  reason ``bot_failure`` (``actions.bot_failures``), ticketed like any left message.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sqlalchemy import select, update

from bot.storage.db import retry_transient
from bot.storage.models import Session, Ticket
from handoff.models import HandoffLine, LeftMessage
from handoff.service import Effects, HandoffService
from handoff.states import Event, State, Transition
from handoff.tickets import policy
from handoff.tickets.service import NewTicket, TicketService, tickets_of
from handoff.tickets.states import OPEN, Status, move
from handoff.tickets.views import utc

log = logging.getLogger(__name__)
UNSERVED_EVENTS = (Event.QUEUE_TIMEOUT, Event.CANCEL, Event.USER_END)
QUEUE_TIMEOUT_LINE = "已为您登记工单，工单号 {no}，客服会在 {within}内联系您。您接下来留言的内容也会一并记到工单里～"
ADDED_TO_TICKET = "您的留言已补充到工单 {no}，客服会尽快联系您～"


def unserved_source(s: Session, t: Transition) -> str | None:
    """Why a closing session needs a ticket: ``complaint`` (a complaint no agent answered), ``queue_timeout``,
    or None. Pure: the session row as the transition left it."""
    if t.after is not State.CLOSED or s.first_response_at is not None or t.event not in UNSERVED_EVENTS:
        return None
    if s.reason == "complaint":
        return "complaint"
    return "queue_timeout" if t.event is Event.QUEUE_TIMEOUT else None


def session_closed(handoff: HandoffService, db: Any, fx: Effects, s: Session, t: Transition, now: float) -> None:
    """In the transaction closing ``s``: open its ticket if it was left unserved. A failure here is logged and
    rolled back to a savepoint: closing the session matters more."""
    source = unserved_source(s, t)
    if source is None:
        return
    svc = tickets_of(handoff)
    try:
        with db.begin_nested():
            said = _customer_lines(db, s)
            category = "complaint" if source == "complaint" else policy.categorize(said, s.reason)
            vip = "vip" in (s.tags or "").split(",")
            title = f"{policy.SOURCES[source]}：{_gist(said) or (s.customer_name or s.customer_ref or '客户')}"
            line = QUEUE_TIMEOUT_LINE if t.event is Event.QUEUE_TIMEOUT else policy.CREATED
            mine = Effects()
            svc.insert(db, mine, NewTicket(
                s.tenant_id, title, said, category, policy.priority_of(category, vip), source,
                f"session:{s.session_id}", s.session_id, s.conversation_id, s.customer_id, s.customer_ref,
                s.channel, customer_line=line))  # fmt: skip
        fx.agents |= mine.agents
        # the number is said before the bot takes the conversation back (and, after a queue timeout, asks for
        # the message to leave): it follows the handoff's own closing line
        at = next((i for i, (kind, conv, _) in enumerate(fx.customer)
                   if kind == "resume" and conv == s.conversation_id), len(fx.customer))  # fmt: skip
        fx.customer[at:at] = mine.customer
    except Exception:
        log.exception("could not open a ticket for session %s", s.session_id)


def _customer_lines(db: Any, s: Session) -> str:
    # whole rows, not the column: a loaded line's sealed content is opened (bot.storage.sealed)
    rows = db.scalars(select(HandoffLine).where(HandoffLine.session_id == s.session_id,
                                                HandoffLine.tenant_id == s.tenant_id,
                                                HandoffLine.sender_role == HandoffLine.FROM_USER)
                      .order_by(HandoffLine.created_at).limit(20))  # fmt: skip
    texts = []
    for line in rows:
        try:
            texts.append(str(json.loads(line.content or "{}").get("text") or "").strip())
        except ValueError:
            continue
    return "\n".join(x for x in texts if x)[:2000]


def _gist(text: str, limit: int = 40) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= limit else first[: limit - 1] + "…"


# --- left messages ---------------------------------------------------------------------------------------
def sweep_left_messages(handoff: HandoffService, limit: int = 100) -> int:
    """Turn new left messages into tickets (or comments on the session's open ticket); returns how many."""
    svc = tickets_of(handoff)
    with svc.db.session() as db:
        ids = list(db.scalars(select(LeftMessage.left_id).where(LeftMessage.status == "new")
                              .order_by(LeftMessage.created_at).limit(limit)))  # fmt: skip
    done = 0
    for left_id in ids:
        try:
            done += _ticket_for_left(svc, left_id)
        except Exception:  # one bad row must not stop the others; it stays new and is tried again
            log.exception("could not open a ticket for left message %s", left_id)
    return done


@retry_transient
def _ticket_for_left(svc: TicketService, left_id: int) -> bool:
    fx = Effects()
    with svc.db.session() as db:
        won = db.execute(update(LeftMessage).where(LeftMessage.left_id == left_id, LeftMessage.status == "new")
                         .values(status="ticketed").execution_options(synchronize_session=False))  # fmt: skip
        if won.rowcount != 1:  # type: ignore[attr-defined]
            return False  # another instance took it
        left = db.get(LeftMessage, left_id)
        assert left is not None
        s = None
        if left.session_id:
            s = db.scalar(select(Session).where(Session.session_id == left.session_id,
                                                Session.tenant_id == left.tenant_id))  # fmt: skip
        undelivered = left.reason == "undelivered"
        open_ticket = None if undelivered else _open_ticket_of(db, left)
        if open_ticket is not None:
            _add_to(svc, db, fx, open_ticket, left, s)
        else:
            source = "undelivered" if undelivered else "bot_failure" if left.reason == "bot_failure" else "left_message"
            category = policy.categorize(left.text, left.reason)
            vip = s is not None and "vip" in (s.tags or "").split(",")
            title = ("客户未收到客服的消息，需要跟进" if undelivered
                     else f"{policy.SOURCES[source]}：{_gist(left.text)}")  # fmt: skip
            svc.insert(db, fx, NewTicket(
                left.tenant_id, title, left.text, category, policy.priority_of(category, vip), source,
                f"left:{left.left_id}", left.session_id, left.conversation_id, s.customer_id if s else None,
                left.customer_ref, s.channel if s else None,
                assignee_id=(s.agent_id if s is not None and undelivered else None),
                customer_line=None if undelivered else policy.CREATED_FROM_FAILURES if source == "bot_failure"
                else policy.CREATED_FROM_MESSAGE))  # fmt: skip
    svc.handoff.deliver(fx)
    return True


def _open_ticket_of(db: Any, left: LeftMessage) -> Ticket | None:
    """The open ticket this message belongs to: its session's (a queue timeout's), else the conversation's
    latest automatic one still open."""
    q = select(Ticket).where(Ticket.tenant_id == left.tenant_id, Ticket.status.in_([int(x) for x in OPEN]))
    if left.session_id:
        t = db.scalar(q.where(Ticket.session_id == left.session_id).order_by(Ticket.ticket_id.desc()).limit(1))
        if t is not None:
            return t
    return db.scalar(q.where(Ticket.conversation_id == left.conversation_id, Ticket.created_by.is_(None))
                     .order_by(Ticket.ticket_id.desc()).limit(1))  # fmt: skip


def _add_to(svc: TicketService, db: Any, fx: Effects, t: Ticket, left: LeftMessage, s: Session | None) -> None:
    """The customer's words on their ticket; a ticket waiting for them goes back to 处理中 (they answered)."""
    now = svc.now()
    svc._comment(db, t, s.customer_id if s else None, "customer", left.text)
    if Status(t.status) is Status.WAITING_CUSTOMER:
        m = move(Status.WAITING_CUSTOMER, Status.IN_PROGRESS)
        svc._cas(db, t, m.before, **svc.move_values(t, m, now))
        svc._publish(db, t, "moved", m.before, now, {"by": "customer"})
    else:
        t.updated_at = utc(now)
    svc._feed(db, fx, t, "commented", {t.assignee_id}, now)
    if t.conversation_id:
        fx.customer.append(("say", t.conversation_id, (ADDED_TO_TICKET.format(no=t.ticket_no),)))
