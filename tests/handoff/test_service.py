"""The handoff service on a real database: queue, offers, claims, relay, timeouts, transfer, close."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.errors import Conflict, Forbidden, InvalidInput, NotFound
from bot.storage.models import Session
from handoff import assignment as a
from handoff.config import HandoffConfig
from handoff.models import AgentFeed, LeftMessage, Offer, SessionEvent
from handoff.states import IllegalTransition, State

from .conftest import Desk, make_desk


def feed(desk: Desk, agent_id: int | None, kind: str | None = None) -> list[dict]:
    with desk.svc.db.session() as db:
        rows = db.scalars(select(AgentFeed).where(AgentFeed.agent_id == agent_id).order_by(AgentFeed.seq))
        return [{"kind": r.kind, **r.payload} for r in rows if kind is None or r.kind == kind]


def offers(desk: Desk, agent_id: int) -> list[dict]:
    return feed(desk, agent_id, "offer")


def state(desk: Desk, session_id: int) -> State:
    with desk.svc.db.session() as db:
        from handoff.domain import CODE_STATE

        return CODE_STATE[db.get(Session, session_id).session_state]


def test_queue_position_and_a_second_request(desk: Desk) -> None:
    busy_agent(desk)
    first, second = desk.ask("c1"), desk.ask("c2")
    assert first.on_duty and first.position == 1 and second.position == 2 and second.eta_seconds is not None
    again = desk.ask("c2")
    assert again.already_waiting and again.session_id == second.session_id and again.position == 2
    with desk.svc.db.session() as db:
        assert db.scalar(select(SessionEvent.event).where(SessionEvent.session_id == first.session_id)) == "queued"


def test_nobody_on_duty_means_no_queue(settings) -> None:  # type: ignore[no-untyped-def]
    from bot.storage.db import Database

    night = make_desk(Database.from_settings(settings), HandoffConfig(working_hours="09:00-10:00"))
    night.agent("a1")
    assert not night.ask("c1").on_duty  # 12:00 in Shanghai: outside 09-10
    empty = make_desk(Database.from_settings(settings), HandoffConfig(working_hours="00:00-24:00"))
    assert not empty.ask("c9").on_duty  # nobody online


def busy_agent(desk: Desk, login: str = "busy") -> None:
    """Someone on duty who takes nothing: the queue stays as it is."""
    desk.svc.presence.set_available("default", desk.agent(login).user_id, False)


def test_priority_and_ageing_order_the_queue(desk: Desk) -> None:
    busy_agent(desk)
    plain = desk.ask("plain")
    desk.advance(100)
    complaint = desk.ask("angry", reason="complaint")
    vip = desk.ask("vip", tags=("vip",))
    assert desk.ask("angry").position == 1  # complaint (3) beats 100 s of waiting at priority 1
    assert desk.ask("vip").position == 2 and desk.ask("plain").position == 3
    desk.advance(400)
    late = desk.ask("late-complaint", reason="complaint")
    assert late.position == 4  # everyone above has waited far longer than 2 × 120 s
    del plain, complaint, vip


def test_offer_accept_and_both_sides_hear_of_it(desk: Desk) -> None:
    a1, a2 = desk.agent("a1"), desk.agent("a2")
    t = desk.ask("c1")
    assert a.assign_pass(desk.svc, "default") == 0  # offered the moment it was queued
    offered = offers(desk, a1.user_id) or offers(desk, a2.user_id)
    who = a1 if offers(desk, a1.user_id) else a2
    assert len(offered) == 1 and offered[0]["session"]["conversation_id"] == "c1"
    view = a.accept(desk.svc, who, int(offered[0]["offer_id"]))
    assert view.state is State.ACTIVE and view.agent_id == who.user_id
    assert any("客服" in t for t in desk.customers.texts("c1"))
    assert feed(desk, who.user_id, "session")[-1]["state"] == "active"
    with pytest.raises(Conflict):  # accepted once
        a.accept(desk.svc, who, int(offered[0]["offer_id"]))
    assert t.session_id == view.session_id


def test_unanswered_offer_goes_to_the_next_agent_and_a_decline_too(desk: Desk) -> None:
    a1 = desk.agent("a1")
    desk.advance(1)
    a2 = desk.agent("a2")
    desk.advance(1)
    a3 = desk.agent("a3")
    desk.ask("c1")
    a.assign_pass(desk.svc, "default")
    first = [x for x in (a1, a2, a3) if offers(desk, x.user_id)]
    assert len(first) == 1
    desk.advance(21)  # past offer_seconds
    a.tick(desk.svc)
    second = [x for x in (a1, a2, a3) if offers(desk, x.user_id) and x != first[0]]
    assert len(second) == 1
    with pytest.raises(Conflict):  # the expired one can't be accepted any more
        a.accept(desk.svc, first[0], int(offers(desk, first[0].user_id)[0]["offer_id"]))
    a.decline(desk.svc, second[0], int(offers(desk, second[0].user_id)[0]["offer_id"]))
    third = next(x for x in (a1, a2, a3) if x not in (first[0], second[0]))
    assert len(offers(desk, third.user_id)) == 1


def test_capacity_is_never_exceeded(desk: Desk) -> None:
    solo = desk.agent("solo", capacity=1)
    for c in ("c1", "c2"):
        desk.ask(c)
    a.assign_pass(desk.svc, "default")
    got = offers(desk, solo.user_id)
    assert len(got) == 1  # one slot: one offer
    a.accept(desk.svc, solo, int(got[0]["offer_id"]))
    a.assign_pass(desk.svc, "default")
    assert len(offers(desk, solo.user_id)) == 1
    with desk.svc.db.session() as db:
        second = db.scalar(select(Session).where(Session.conversation_id == "c2"))
    with pytest.raises(Conflict):
        a.take(desk.svc, solo, second.session_id)


def test_relay_cancel_and_repeat_request_while_waiting(desk: Desk) -> None:
    busy_agent(desk)
    t = desk.ask("c1")
    assert desk.svc.customer_said("default", "c1", "我的快递坏了", "inform")
    assert not desk.svc.customer_said("default", "nobody", "在吗", "greet")
    desk.advance(31)
    desk.svc.customer_said("default", "c1", "转人工", "request_human")
    assert any("前面还有 0 位" in x for x in desk.customers.texts("c1"))
    desk.svc.customer_said("default", "c1", "转人工", "request_human")  # within 30 s: no second line
    assert sum("还在为您排队" in x for x in desk.customers.texts("c1")) == 1
    desk.svc.customer_said("default", "c1", "不用了", "deny")
    assert state(desk, t.session_id) is State.CLOSED
    assert desk.customers.kinds("c1")[-1] == "resume"
    assert feed(desk, None, "message")[0]["message"]["text"] == "我的快递坏了"  # supervisors saw it


def active(desk: Desk, conv: str = "c1") -> tuple:
    agent = desk.agent(f"agent-{conv}")
    desk.ask(conv)
    a.assign_pass(desk.svc, "default")
    view = a.accept(desk.svc, agent, int(offers(desk, agent.user_id)[-1]["offer_id"]))
    return agent, view


def test_messages_both_ways_and_first_response(desk: Desk) -> None:
    agent, view = active(desk)
    desk.svc.customer_said("default", "c1", "在吗", "greet")
    sent = desk.svc.send(agent, view.session_id, "在的，请问有什么可以帮您？")
    assert sent["message"]["from"] == "agent"
    assert desk.customers.texts("c1")[-1] == "在的，请问有什么可以帮您？"
    assert desk.customers.lines["c1"][-1][1]["agent"]["id"] == str(agent.user_id)
    msgs = [x["message"]["text"] for x in feed(desk, agent.user_id, "message")]
    assert msgs == ["在吗", "在的，请问有什么可以帮您？"]
    assert desk.svc.session_for(agent, view.session_id).first_response_at is not None
    with pytest.raises(InvalidInput):
        desk.svc.send(agent, view.session_id, "")
    with pytest.raises(InvalidInput):
        desk.svc.send(agent, view.session_id, "长" * 2001)
    with pytest.raises(InvalidInput):
        desk.svc.send(agent, view.session_id, image_url="javascript:alert(1)")
    desk.svc.send(agent, view.session_id, image_url="https://cdn.example.com/invoice.jpg")
    assert desk.customers.lines["c1"][-1][1]["image"] == "https://cdn.example.com/invoice.jpg"


def test_silence_warns_then_closes_and_speaking_revives(desk: Desk) -> None:
    _agent, view = active(desk)
    desk.advance(61)
    a.tick(desk.svc)
    assert state(desk, view.session_id) is State.WARNING and "您还在吗" in desk.customers.texts("c1")[-1]
    desk.svc.customer_said("default", "c1", "在的在的", "affirm")
    assert state(desk, view.session_id) is State.ACTIVE
    desk.advance(61)
    a.tick(desk.svc)
    desk.advance(31)
    a.tick(desk.svc)
    assert state(desk, view.session_id) is State.CLOSED
    assert desk.customers.kinds("c1")[-1] == "resume" and "自动" not in desk.customers.texts("c1")[-1]


def test_close_with_summary_asks_csat_and_resumes(desk: Desk) -> None:
    agent, view = active(desk)
    closed = desk.svc.close(agent, view.session_id, "已补发")
    assert closed.state is State.CLOSED and closed.summary == "已补发"
    kinds = desk.customers.kinds("c1")
    assert kinds[-1] == "resume" and desk.customers.lines["c1"][-2][1]["buttons"][0]["payload"].startswith("/rate")
    assert desk.svc.record_csat("default", "c1", 5)
    with pytest.raises(InvalidInput):
        desk.svc.record_csat("default", "c1", 9)
    with pytest.raises(IllegalTransition):
        desk.svc.send(agent, view.session_id, "还在吗")  # closed


def test_who_may_act_on_a_session(desk: Desk) -> None:
    agent, view = active(desk)
    other = desk.agent("other")
    boss = desk.agent("boss", roles={"supervisor"})
    foreign = desk.agent("x", tenant="acme", roles={"supervisor"})
    with pytest.raises(Forbidden):
        desk.svc.send(other, view.session_id, "我来")
    with pytest.raises(NotFound):
        desk.svc.session_for(foreign, view.session_id)
    with pytest.raises(NotFound):
        desk.svc.session_for(agent, 12345)
    assert desk.svc.session_for(boss, view.session_id).agent_id == agent.user_id


def test_transfer_with_a_note_to_one_agent(desk: Desk) -> None:
    agent, view = active(desk)
    desk.advance(1)
    target = desk.agent("target")
    moved = a.transfer(desk.svc, agent, view.session_id, target.user_id, None, "客户要补发，已核实")
    assert moved.state is State.WAITING and "正在为您转接" in desk.customers.texts("c1")[-1]
    got = offers(desk, target.user_id)
    assert len(got) == 1 and got[0]["session"]["transfer_note"] == "客户要补发，已核实"
    assert a.accept(desk.svc, target, int(got[0]["offer_id"])).agent_id == target.user_id
    with pytest.raises(InvalidInput):
        a.transfer(desk.svc, target, view.session_id, None, None, "")


def test_an_agent_who_goes_offline_gives_the_chat_back_to_the_front(desk: Desk) -> None:
    agent, view = active(desk)
    desk.ask("later")
    del desk.beating[agent.user_id]  # they closed their laptop
    desk.advance(61)  # their last heartbeat is older than the TTL
    helper = desk.agent("helper")
    a.tick(desk.svc)
    assert state(desk, view.session_id) is State.WAITING
    assert "暂时离开" in desk.customers.texts("c1")[-1]
    got = offers(desk, helper.user_id)
    assert got[0]["session"]["conversation_id"] == "c1"  # ahead of "later", who queued after


def test_a_long_wait_ends_with_an_offer_to_leave_a_message(desk: Desk) -> None:
    busy_agent(desk)
    t = desk.ask("c1")
    desk.advance(601)
    a.tick(desk.svc)
    assert state(desk, t.session_id) is State.CLOSED
    assert desk.customers.kinds("c1")[-2:] == ["resume", "trigger"]
    left = desk.svc.leave_message("default", "c1", "c1", "快递破损，想补发一个")
    with desk.svc.db.session() as db:
        row = db.get(LeftMessage, left)
        assert row.session_id == t.session_id and row.status == "new"


def test_take_and_supervisor_assign(desk: Desk) -> None:
    grp = desk.agent("grp", skills=("售后",))
    boss = desk.agent("boss", roles={"supervisor"})
    desk.svc.presence.set_available("default", grp.user_id, False)
    desk.svc.presence.set_available("default", boss.user_id, False)
    t = desk.ask("c1", group="物流")
    with pytest.raises(Forbidden):
        a.take(desk.svc, grp, t.session_id)  # not their group
    with pytest.raises(Forbidden):
        a.take(desk.svc, grp, t.session_id, boss.user_id)  # only supervisors assign others
    assert a.take(desk.svc, boss, t.session_id, grp.user_id).agent_id == grp.user_id
    with desk.svc.db.session() as db:
        assert db.scalar(select(Offer).where(Offer.session_id == t.session_id, Offer.status == Offer.PENDING)) is None


def test_one_offer_at_a_time_and_switching_to_busy_gives_offers_back(desk: Desk) -> None:
    a1 = desk.agent("a1")
    desk.ask("c1")
    desk.ask("c2")
    assert len(offers(desk, a1.user_id)) == 1  # not both: one decision at a time
    a2 = desk.agent("a2")
    a.assign_pass(desk.svc, "default")
    assert len(offers(desk, a2.user_id)) == 1
    a.set_available(desk.svc, a1, False)
    with desk.svc.db.session() as db:
        mine = db.scalars(select(Offer).where(Offer.agent_id == a1.user_id)).all()
        assert [o.status for o in mine] == [Offer.WITHDRAWN]
    a.accept(desk.svc, a2, int(offers(desk, a2.user_id)[0]["offer_id"]))
    assert len(offers(desk, a2.user_id)) == 2  # free of offers again: the other session comes to them


def test_a_long_queue_in_one_group_does_not_hide_another_group(desk: Desk) -> None:
    busy_agent(desk)
    for n in range(250):  # more than any one pass looks at
        desk.ask(f"g{n}")
    express = desk.agent("express", skills=("快递",))
    desk.ask("x1", group="快递")
    got = offers(desk, express.user_id)
    assert len(got) == 1 and got[0]["session"]["conversation_id"] == "x1"


def test_waiting_customers_hear_their_place_as_the_queue_moves(desk: Desk) -> None:
    busy_agent(desk)
    desk.ask("c1")
    desk.ask("c2")
    desk.ask("c3")
    desk.svc.customer_said("default", "c1", "不用了", "deny")  # c2 and c3 move up
    desk.advance(10)
    a.tick(desk.svc)
    assert not any("还在为您排队" in x for x in desk.customers.texts("c3"))  # not yet: at most every 30 s
    desk.advance(25)
    a.tick(desk.svc)
    assert desk.customers.texts("c3")[-1] == "还在为您排队哦，前面还有 1 位，请稍等～"
    assert desk.customers.texts("c2")[-1] == "还在为您排队哦，前面还有 0 位，请稍等～"
    desk.advance(35)
    a.tick(desk.svc)  # nothing moved: nothing said
    assert sum("还在为您排队" in x for x in desk.customers.texts("c3")) == 1


def test_a_line_the_customer_channel_refuses_is_kept_marked_and_the_agent_told(desk: Desk) -> None:
    import json

    from handoff.models import HandoffLine

    who = desk.agent("deliv")
    sid = desk.ask("c-deliv").session_id
    a.accept(desk.svc, who, int(offers(desk, who.user_id)[-1]["offer_id"]))

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("WeChat API error 45047: out of response count limit")

    desk.svc.customer.say = refuse  # type: ignore[method-assign]
    out = desk.svc.send(who, sid, "还在吗")
    assert out["message"]["undelivered"] and "没有送达" in out["warning"]
    with desk.svc.db.session() as db:
        stored = db.get(HandoffLine, (int(out["message"]["id"]), sid))
        assert json.loads(stored.content) == {"text": "还在吗", "undelivered": True}


def test_a_line_sent_again_with_its_client_id_is_stored_once_and_delivered_again(desk: Desk) -> None:
    from handoff.models import HandoffLine

    who = desk.agent("resend")
    sid = desk.ask("c-resend").session_id
    a.accept(desk.svc, who, int(offers(desk, who.user_id)[-1]["offer_id"]))
    first = desk.svc.send(who, sid, "稍等我查一下", client_id="inbox-000001")
    again = desk.svc.send(who, sid, "稍等我查一下", client_id="inbox-000001")
    other = desk.svc.send(who, sid, "查到了", client_id="inbox-000002")
    assert again["message"]["id"] == first["message"]["id"] != other["message"]["id"]
    with desk.svc.db.session() as db:
        n = db.query(HandoffLine).filter_by(session_id=sid, sender_role=HandoffLine.FROM_AGENT).count()
    assert n == 2
    said = [line["text"] for kind, line in desk.customers.lines["c-resend"] if kind == "say"]
    # the repeat is offered to the customer again: the relay looks at the conversation before it repeats a line
    assert said.count("稍等我查一下") == 2 and said.count("查到了") == 1
    with pytest.raises(InvalidInput):
        desk.svc.send(who, sid, "x", client_id="../../x")


def test_a_customer_line_the_broker_sends_twice_is_stored_once(desk: Desk) -> None:
    from handoff.models import HandoffLine

    busy_agent(desk)
    sid = desk.ask("c-twice").session_id
    at = desk.clock() + 0.123456
    assert desk.svc.customer_said("default", "c-twice", "鞋码不对", "inform", at)
    assert desk.svc.customer_said("default", "c-twice", "鞋码不对", "inform", at)  # the same event again
    assert desk.svc.customer_said("default", "c-twice", "鞋码不对", "inform", at + 0.5)  # typed again: kept
    with desk.svc.db.session() as db:
        n = db.query(HandoffLine).filter_by(session_id=sid, sender_role=HandoffLine.FROM_USER).count()
    assert n == 2
