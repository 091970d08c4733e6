"""Queue order with ageing, and the choice of agent."""

from __future__ import annotations

from handoff.policy import AgentView, choose_agent, expected_wait, priority, rank, reason_of

STEP = 120.0


def test_priority_from_reason_and_tags() -> None:
    assert priority("complaint", ()) > priority("after_sales", ()) > priority("other", ())
    assert priority("other", {"vip"}) > priority("after_sales", ())
    assert reason_of("complaint") == "complaint" and reason_of("request_human", "我要投诉你们") == "complaint"
    assert reason_of("return_refund") == "after_sales" and reason_of("request_human", "转人工") == "other"


def test_ageing_lets_nobody_starve() -> None:
    complaint = rank(1000.0, priority("complaint", ()), STEP)
    # an ordinary question queued up to 2 levels × 120 s earlier still waits behind the complaint…
    assert rank(1000.0 - 239, priority("other", ()), STEP) > complaint
    # …but one queued longer before it goes first
    assert rank(1000.0 - 241, priority("other", ()), STEP) < complaint
    # same priority: first come, first served
    assert rank(10.0, 1, STEP) < rank(11.0, 1, STEP)
    # a requeued session goes ahead of everyone queued normally, in its own order
    assert rank(5000.0, 1, STEP, front=True) < rank(0.0, 9, STEP)
    assert rank(10.0, 1, STEP, front=True) < rank(20.0, 1, STEP, front=True)


def agent(i: int, **kw: object) -> AgentView:
    base = {"agent_id": i, "groups": frozenset({"售后"}), "capacity": 2, "load": 0, "online": True,
            "available": True, "idle_since": 100.0 + i}  # fmt: skip
    return AgentView(**(base | kw))  # type: ignore[arg-type]


def test_longest_idle_eligible_agent_gets_the_offer() -> None:
    agents = [agent(1), agent(2, idle_since=50.0), agent(3, idle_since=10.0, online=False),
              agent(4, idle_since=1.0, available=False), agent(5, idle_since=2.0, load=2),
              agent(6, idle_since=3.0, groups=frozenset({"物流"}))]  # fmt: skip
    assert choose_agent(agents, "售后").agent_id == 2  # type: ignore[union-attr]
    assert choose_agent(agents, "售后", excluded={2}).agent_id == 1  # type: ignore[union-attr]
    assert choose_agent(agents, "售后", excluded={1, 2}) is None
    assert choose_agent(agents, "物流").agent_id == 6  # type: ignore[union-attr]
    assert choose_agent([agent(7, groups=frozenset())], "任何组").agent_id == 7  # type: ignore[union-attr]
    assert choose_agent(agents, "售后", target=1).agent_id == 1  # type: ignore[union-attr]
    assert choose_agent(agents, "售后", target=3) is None  # the target is offline


def test_expected_wait() -> None:
    assert expected_wait(1, 0, 300) is None
    assert expected_wait(1, 2, 300) == 30.0
    assert expected_wait(5, 2, 300) == 630.0
