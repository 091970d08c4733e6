"""Who waits first and who gets the chat: pure functions, no storage.

**Queue order.** A session's priority comes from the customer (VIP) and the reason (complaint > after-sales >
other); waiting time ages everyone at the same rate, so one priority level is worth ``age_step`` seconds of
waiting and nobody starves. Because ageing is the same for all, the order never changes once queued: the
rank is ``queued_at − priority × age_step`` (lower first), a plain sorted set (seed: ``ZADD wait_queue``).
A session put back (transfer, its agent went offline) goes to the front.

**Assignment.** A waiting session is offered to the eligible agent who has been idle longest: online, switched
to available, serving the session's group, below their capacity, without another pending offer, and not one
who already declined it or let its offer expire. A transfer to one agent is offered to that agent only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

REASONS = {"complaint": 3, "after_sales": 2, "other": 1}
VIP_BONUS = 2
FRONT = 1e9  # a requeued session's rank bonus: ahead of everyone queued normally


def priority(reason: str, tags: Collection[str]) -> int:
    return REASONS.get(reason, 1) + (VIP_BONUS if "vip" in tags else 0)


def rank(queued_at: float, prio: int, age_step: float, front: bool = False) -> float:
    return queued_at - prio * age_step - (FRONT if front else 0.0)


def reason_of(intent: str | None, text: str = "") -> str:
    """What the customer wants a person for, from the bot's last understanding of them."""
    if intent == "complaint" or any(w in text for w in ("投诉", "差评", "太差", "举报")):
        return "complaint"
    if intent in ("return_refund", "change_address", "cancel_order") or any(w in text for w in ("退", "换", "售后")):
        return "after_sales"
    return "other"


@dataclass(frozen=True)
class AgentView:
    agent_id: int
    groups: frozenset[str]
    capacity: int
    load: int  # open chats (active or warning) plus pending offers
    online: bool
    available: bool
    idle_since: float  # when they last had a free slot; lower = idle longer
    offering: bool = False  # an offer of theirs is pending: one decision at a time


def eligible(agent: AgentView, group: str) -> bool:
    """An agent without skill groups serves every group. One pending offer per agent: a pile of offers is
    not a decision an agent can make, and it keeps those sessions from agents who are free."""
    serves = not agent.groups or group in agent.groups
    return agent.online and agent.available and agent.load < agent.capacity and serves and not agent.offering


def choose_agent(agents: Iterable[AgentView], group: str, excluded: Collection[int] = (),
                 target: int | None = None) -> AgentView | None:  # fmt: skip
    """The agent to offer a session of ``group`` to, or None. Ties: the lower agent id, so it is deterministic."""
    pool = [a for a in agents if eligible(a, group) and a.agent_id not in excluded]
    if target is not None:
        pool = [a for a in pool if a.agent_id == target]
    return min(pool, key=lambda a: (a.idle_since, a.agent_id), default=None)


def expected_wait(position: int, agents_on_duty: int, mean_handle_seconds: float) -> float | None:
    """A rough wait for the customer at ``position`` (1 = next): None when nobody is on duty."""
    if agents_on_duty <= 0:
        return None
    return max(0.0, (position - 1) / agents_on_duty * mean_handle_seconds) + 30.0
