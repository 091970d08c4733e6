"""What each action of the state machine means for the customer, the agents and the row: one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.storage.models import Session
from handoff import domain as d
from handoff.policy import rank
from handoff.states import Action, State, Transition

if TYPE_CHECKING:
    from handoff.service import Effects, HandoffService

CSAT_BUTTONS = [{"title": f"{n} 分", "payload": f'/rate_service{{"csat": "{n}"}}'} for n in (5, 4, 3, 2, 1)]


def apply_actions(svc: HandoffService, db: Any, fx: Effects, s: Session, t: Transition, now: float) -> None:
    conv = s.conversation_id or ""
    agent_before = s.agent_id
    for action in t.actions:
        if action is Action.NOTIFY_BOTH:
            name = svc._agent_name(db, s.agent_id)
            fx.customer.append(("say", conv, (d.ASSIGNED.format(name=name), None,
                                              {"id": str(s.agent_id), "name": name})))  # fmt: skip
        elif action is Action.REMIND_CUSTOMER:
            fx.customer.append(("say", conv, (d.REMIND,)))
        elif action is Action.AUTO_END:
            fx.customer.append(("say", conv, (d.AUTO_ENDED,)))
        elif action is Action.ASK_CSAT:
            fx.customer.append(("say", conv, (d.CLOSED,)))
            fx.customer.append(("say", conv, (d.CSAT, CSAT_BUTTONS)))
        elif action is Action.RESUME_BOT:
            fx.customer.append(("resume", conv, None))
        elif action is Action.REQUEUE:
            # back to the front of its queue, without an agent; the next offer goes by the usual rules
            s.agent_id = None
            s.queue_rank = rank(now, s.priority, svc.cfg.age_step_seconds, front=True)
            s.assigned_at = None
        elif action is Action.TELL_CUSTOMER_TRANSFER:
            target = "其他客服" if s.target_agent_id is None else (svc._agent_name(db, s.target_agent_id) or "其他客服")
            fx.customer.append(("say", conv, (d.TRANSFERRED.format(target=target),)))
        elif action is Action.LEAVE_MESSAGE:
            fx.customer.append(("say", conv, (d.TOO_LONG,)))
    if t.after is State.CLOSED:  # a complaint or a queue timeout no agent answered becomes a ticket
        from handoff.tickets.auto import session_closed

        session_closed(svc, db, fx, s, t, now)
    if Action.LEAVE_MESSAGE in t.actions:
        fx.customer.append(("trigger", conv, "leave_message"))  # after the resume: the bot takes the message
    # every agent concerned hears of it: the one who had it, the one who has it, the supervisors
    view = d.view(s).to_json()
    who = {a for a in (agent_before, s.agent_id) if a} | {None}
    svc._feed(db, fx, s, "session", {"event": t.event.value, "state": t.after.value, "session": view}, who)
    if t.after is not State.WAITING:
        svc.told_position.pop(s.session_id, None)
    if t.after is State.CLOSED:
        svc._last_position_line.pop(s.session_id, None)
