"""The session state machine of seed §2.4.4, as one table and one pure function.

    WAITING ──agent_assigned──▶ ACTIVE ──silence_timeout──▶ WARNING ──timeout_exceeded──▶ CLOSED
       ▲  │                      │  ▲                          │
       │  └─cancel / queue_timeout┼──┼──────────────▶ CLOSED    └─customer_spoke──▶ ACTIVE
       │                         │  └──customer_spoke (stays ACTIVE)
       └──transfer / agent_lost──┘      user_end / agent_end (ACTIVE or WARNING) ──▶ CLOSED

An event the table does not list for the current state is illegal: ``step`` raises ``IllegalTransition``
(HTTP 409) and nothing changes. Storage persists what ``step`` returns; it never decides a transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.errors import Conflict


class State(str, Enum):
    WAITING = "waiting"
    ACTIVE = "active"
    WARNING = "warning"
    CLOSED = "closed"


class Event(str, Enum):
    AGENT_ASSIGNED = "agent_assigned"  # an agent accepted an offer, took it, or a supervisor assigned it
    SILENCE_TIMEOUT = "silence_timeout"  # the customer said nothing for handoff.silence_seconds
    TIMEOUT_EXCEEDED = "timeout_exceeded"  # still nothing handoff.close_after_warning_seconds later
    CUSTOMER_SPOKE = "customer_spoke"
    USER_END = "user_end"
    AGENT_END = "agent_end"
    TRANSFER = "transfer"  # to another agent or group, with a note
    AGENT_LOST = "agent_lost"  # the agent went offline (handoff.requeue_on_offline)
    CANCEL = "cancel"  # the customer left the queue (不用了)
    QUEUE_TIMEOUT = "queue_timeout"  # waited past handoff.max_wait_seconds, or nobody on duty


class Action(str, Enum):
    NOTIFY_BOTH = "notify_both"
    REMIND_CUSTOMER = "remind_customer"
    AUTO_END = "auto_end"
    SAVE_SUMMARY = "save_summary"
    REQUEUE = "requeue"
    TELL_CUSTOMER_TRANSFER = "tell_customer_transfer"
    LEAVE_MESSAGE = "offer_leave_message"
    RESUME_BOT = "resume_bot"
    ASK_CSAT = "ask_csat"
    RELAY = "relay"


_CLOSE_BY_PERSON = (Action.SAVE_SUMMARY, Action.ASK_CSAT, Action.RESUME_BOT)

TRANSITIONS: dict[tuple[State, Event], tuple[State, tuple[Action, ...]]] = {
    (State.WAITING, Event.AGENT_ASSIGNED): (State.ACTIVE, (Action.NOTIFY_BOTH,)),
    (State.WAITING, Event.CUSTOMER_SPOKE): (State.WAITING, (Action.RELAY,)),
    (State.WAITING, Event.CANCEL): (State.CLOSED, (Action.RESUME_BOT,)),
    (State.WAITING, Event.USER_END): (State.CLOSED, (Action.RESUME_BOT,)),
    (State.WAITING, Event.QUEUE_TIMEOUT): (State.CLOSED, (Action.LEAVE_MESSAGE, Action.RESUME_BOT)),
    (State.ACTIVE, Event.CUSTOMER_SPOKE): (State.ACTIVE, (Action.RELAY,)),
    (State.ACTIVE, Event.SILENCE_TIMEOUT): (State.WARNING, (Action.REMIND_CUSTOMER,)),
    (State.ACTIVE, Event.USER_END): (State.CLOSED, _CLOSE_BY_PERSON),
    (State.ACTIVE, Event.AGENT_END): (State.CLOSED, _CLOSE_BY_PERSON),
    (State.ACTIVE, Event.TRANSFER): (State.WAITING, (Action.REQUEUE, Action.TELL_CUSTOMER_TRANSFER)),
    (State.ACTIVE, Event.AGENT_LOST): (State.WAITING, (Action.REQUEUE,)),
    (State.WARNING, Event.CUSTOMER_SPOKE): (State.ACTIVE, (Action.RELAY,)),
    (State.WARNING, Event.TIMEOUT_EXCEEDED): (State.CLOSED, (Action.AUTO_END, Action.SAVE_SUMMARY, Action.RESUME_BOT)),
    (State.WARNING, Event.USER_END): (State.CLOSED, _CLOSE_BY_PERSON),
    (State.WARNING, Event.AGENT_END): (State.CLOSED, _CLOSE_BY_PERSON),
    (State.WARNING, Event.TRANSFER): (State.WAITING, (Action.REQUEUE, Action.TELL_CUSTOMER_TRANSFER)),
    (State.WARNING, Event.AGENT_LOST): (State.WAITING, (Action.REQUEUE,)),
}


class IllegalTransition(Conflict):
    """An event the current state does not accept (HTTP 409); nothing was changed."""


@dataclass(frozen=True)
class Transition:
    before: State
    event: Event
    after: State
    actions: tuple[Action, ...]


def step(state: State, event: Event) -> Transition:
    try:
        after, actions = TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"a {state.value} session does not accept {event.value}") from None
    return Transition(state, event, after, actions)


def is_open(state: State) -> bool:
    return state is not State.CLOSED
