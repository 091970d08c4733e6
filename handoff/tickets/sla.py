"""The SLA evaluator, run by the handoff clock on every instance (``step``).

A breach is a ticket whose clock runs (新建 or 处理中) past ``expired_at``. It is escalated exactly once: the
escalation is a compare-and-set on ``escalation_level`` (``UPDATE … WHERE ticket_id=? AND escalation_level=?
AND expired_at < now``), so of two instances seeing the same breach only one changes the row; the winner, in
the same transaction, publishes the event, writes the comment and the audit row and feeds the supervisors.
The escalation raises the priority one step and sets a new deadline from that priority's SLA: if that one
passes too, it is a new breach and escalates again (never twice for one deadline).
"""

from __future__ import annotations

import logging

from sqlalchemy import select, update

from bot.audit import audit
from bot.storage.db import retry_transient
from bot.storage.models import Ticket
from handoff.metrics import SLA_BREACHES
from handoff.service import Effects, HandoffService
from handoff.tickets import policy
from handoff.tickets.service import TicketService, tickets_of
from handoff.tickets.states import SLA_RUNNING, Status
from handoff.tickets.views import epoch, utc

log = logging.getLogger(__name__)
RUNNING = [int(s) for s in SLA_RUNNING]


def evaluate(handoff: HandoffService, limit: int = 200) -> int:
    """Escalate every breached ticket (the most overdue first); returns how many this instance escalated."""
    svc = tickets_of(handoff)
    at = utc(svc.now())
    with svc.db.session() as db:
        due = db.execute(select(Ticket.ticket_id, Ticket.tenant_id, Ticket.escalation_level)
                         .where(Ticket.status.in_(RUNNING), Ticket.expired_at < at)
                         .order_by(Ticket.expired_at).limit(limit)).all()  # fmt: skip
    won = 0
    for ticket_id, tenant, level in due:
        try:
            won += escalate(svc, int(ticket_id), str(tenant), int(level or 0))
        except Exception:
            log.exception("could not escalate ticket %s", ticket_id)
    SLA_BREACHES.inc(won)
    return won


@retry_transient
def escalate(svc: TicketService, ticket_id: int, tenant: str, level: int) -> bool:
    """Escalate ``ticket_id`` from ``level`` if it is still breached there; False when another instance (or a
    move) got there first."""
    now, fx = svc.now(), Effects()
    at = utc(now)
    with svc.db.session() as db:
        t = db.scalar(select(Ticket).where(Ticket.ticket_id == ticket_id, Ticket.tenant_id == tenant))
        if t is None or t.expired_at is None:
            return False
        before_priority, before_minutes, breached_at = t.priority, t.sla_minutes, t.expired_at
        priority = policy.escalated(before_priority)
        done = db.execute(update(Ticket).where(
            Ticket.ticket_id == ticket_id, Ticket.tenant_id == tenant, Ticket.escalation_level == level,
            Ticket.status.in_(RUNNING), Ticket.expired_at < at,
        ).values(priority=priority, escalation_level=level + 1, escalated_at=at, sla_minutes=svc.cfg.sla(priority),
                 expired_at=policy.deadline(at, priority, svc.cfg), updated_at=at)
            .execution_options(synchronize_session=False))  # fmt: skip
        if done.rowcount != 1:  # type: ignore[attr-defined]
            return False
        db.refresh(t)
        svc._publish(db, t, "escalated", Status(t.status), now,
                     {"from_priority": before_priority, "breached_at": epoch(breached_at)})  # fmt: skip
        note = (f"超过 SLA（{policy.minutes_text(before_minutes)}）仍未处理，已自动升级：优先级 {before_priority}"
                f" → {priority}，新的处理时限 {policy.minutes_text(t.sla_minutes)}（第 {level + 1} 次升级）")
        svc._comment(db, t, None, "system", note)
        svc._feed(db, fx, t, "escalated", {None, t.assignee_id}, now)
        audit(db, tenant, "ticket.escalate", "ticket", str(ticket_id),
              {"level": level + 1, "priority": [before_priority, priority]}, actor_role="system")  # fmt: skip
    svc.handoff.deliver(fx)
    return True


def step(handoff: HandoffService) -> None:
    """The tickets' part of the handoff clock: every ``tickets.sweep_seconds``, left messages into tickets and
    breaches escalated. Never raises: the clock's other work goes on."""
    svc = tickets_of(handoff)
    now = svc.now()
    if now - svc.last_sweep < svc.cfg.sweep_seconds:
        return
    svc.last_sweep = now
    from handoff.tickets.auto import sweep_left_messages

    for work in (sweep_left_messages, evaluate):
        try:
            work(handoff)
        except Exception:
            log.exception("tickets: %s failed", work.__name__)
