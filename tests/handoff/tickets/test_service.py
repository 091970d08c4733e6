"""The ticket service on a real database (SQLite here; the races on the machine's MariaDB in test_races.py):
agents' tickets from a conversation, moves and the SLA clock, automatic tickets from the handoff, escalations,
the stream events and audit rows each change writes in its own transaction, and tenant isolation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.errors import Conflict, Forbidden, InvalidInput, NotFound
from bot.events.table import outbox
from bot.security import Principal
from bot.storage.models import AuditLog, Ticket, TicketComment
from handoff import assignment as a
from handoff.models import AgentFeed, LeftMessage
from handoff.tickets.auto import sweep_left_messages
from handoff.tickets.service import TicketQuery, tickets_of
from handoff.tickets.sla import evaluate
from handoff.tickets.states import Status

from ..conftest import Desk


def events(desk: Desk) -> list[dict]:
    import json

    from bot.storage.sealed import OUTBOX

    with desk.svc.db.engine.connect() as c:
        rows = c.execute(select(outbox.c.stream_key, outbox.c.body, outbox.c.tenant_id, outbox.c.event_id)
                         .where(outbox.c.kind == "ticket").order_by(outbox.c.seq)).all()  # fmt: skip
    # bodies are sealed at rest (bot.events.outbox): opened as the stream's reader does
    return [{"key": r.stream_key, **json.loads(OUTBOX.open(desk.svc.db.cipher, r.body, r._mapping))["data"]}
            for r in rows]  # fmt: skip


def tickets(desk: Desk) -> list[Ticket]:
    with desk.svc.db.session() as db:
        return list(db.scalars(select(Ticket).order_by(Ticket.ticket_id)))


def served_session(desk: Desk, conv: str = "c1") -> tuple[Principal, int]:
    """An agent who took a customer's chat: what an agent opens a ticket from."""
    agent = desk.agent("xiaowang")
    sid = desk.ask(conv).session_id
    assert sid is not None
    a.take(desk.svc, agent, sid)
    return agent, sid


def test_an_agent_opens_a_ticket_from_a_chat_and_the_customer_hears_its_number(desk: Desk) -> None:
    agent, sid = served_session(desk)
    t = tickets_of(desk.svc).create(agent, title="退货未退款", description="寄回 5 天", category="refund",
                                    session_id=sid)  # fmt: skip
    assert t.ticket_no == "T2601010001" and t.status is Status.NEW and t.priority == 3 and t.sla_minutes == 120
    assert t.expired_at == desk.clock() + 120 * 60 and t.conversation_id == "c1" and t.session_id == sid
    assert "工单号 T2601010001" in desk.customers.texts("c1")[-1] and "2 小时" in desk.customers.texts("c1")[-1]
    [created] = events(desk)
    assert (created["key"], created["event"], created["from"], created["to"]) == ("c1", "created", None, "new")
    second = tickets_of(desk.svc).create(agent, title="再来一个", category="complaint", session_id=sid)
    assert second.ticket_no == "T2601010002" and second.priority == 2  # complaints default to 高
    with desk.svc.db.session() as db:
        assert db.scalar(select(AuditLog.actor_id).where(AuditLog.action == "ticket.create").limit(1)) == agent.user_id


def test_what_a_ticket_cannot_be_created_from(desk: Desk) -> None:
    agent, sid = served_session(desk)
    svc = tickets_of(desk.svc)
    with pytest.raises(NotFound):
        svc.create(agent, title="x", session_id=123456789)
    with pytest.raises(NotFound):  # no session and nothing archived for it
        svc.create(agent, title="x", conversation_id="nobody-ever")
    with pytest.raises(InvalidInput):
        svc.create(agent, title="x")
    with pytest.raises(InvalidInput):
        svc.create(agent, title="x", session_id=sid, category="shoes")
    with pytest.raises(InvalidInput):
        svc.create(agent, title="x", session_id=sid, priority=5)
    with pytest.raises(InvalidInput):
        svc.create(agent, title=" ", session_id=sid)
    foreign = Principal(agent.user_id, "acme", frozenset({"supervisor"}), "x")
    with pytest.raises(NotFound):  # another tenant's session does not exist for them
        svc.create(foreign, title="x", session_id=sid)
    assert tickets(desk) == []


def test_moves_the_sla_clock_and_the_customer_lines(desk: Desk) -> None:
    agent, sid = served_session(desk)
    other = desk.agent("xiaoli")
    svc = tickets_of(desk.svc)
    t = svc.create(agent, title="少发一件", session_id=sid)
    deadline = t.expired_at
    assert deadline is not None
    with pytest.raises(Conflict):
        svc.move(agent, t.ticket_id, Status.NEW)  # nothing goes back to 新建, nor to where it is
    started = svc.move(agent, t.ticket_id, Status.IN_PROGRESS)
    assert started.assignee_id == agent.user_id  # an agent who starts an unassigned ticket owns it
    with pytest.raises(Forbidden):
        svc.move(other, t.ticket_id, Status.RESOLVED)
    asked = svc.move(agent, t.ticket_id, Status.WAITING_CUSTOMER, note="等照片", reply="麻烦拍一下包裹的照片")
    assert asked.sla_paused_at is not None
    assert desk.customers.texts("c1")[-1] == "关于工单 T2601010001，客服需要您补充一些信息：麻烦拍一下包裹的照片"
    desk.advance(3600)  # an hour waiting for the customer does not count against us
    back = svc.move(agent, t.ticket_id, Status.IN_PROGRESS)
    assert back.expired_at == pytest.approx(deadline + 3600) and back.sla_paused_at is None
    done = svc.move(agent, t.ticket_id, Status.RESOLVED, reply="已为您补发")
    assert done.resolved_at == desk.clock()
    assert desk.customers.texts("c1")[-1] == ("您的工单 T2601010001 已处理完成～处理结果：已为您补发。"
                                              "如果问题还没解决，直接回复我就好。")  # fmt: skip
    reopened = svc.move(agent, t.ticket_id, Status.IN_PROGRESS)
    assert reopened.resolved_at is None and reopened.expired_at == desk.clock() + 120 * 60
    closed = svc.move(agent, t.ticket_id, Status.CLOSED)
    assert closed.closed_at == desk.clock()
    for to in Status:
        with pytest.raises(Conflict):
            svc.move(agent, t.ticket_id, to)
    moves = [(e["from"], e["to"]) for e in events(desk) if e["event"] == "moved"]
    assert moves == [("new", "in_progress"), ("in_progress", "waiting_customer"), ("waiting_customer", "in_progress"),
                     ("in_progress", "resolved"), ("resolved", "in_progress"), ("in_progress", "closed")]
    _, comments = svc.get(agent, t.ticket_id)
    assert [c.text for c in comments] == ["等照片\n（回复客户）麻烦拍一下包裹的照片", "（回复客户）已为您补发"]


def test_assign_comment_list_and_another_tenant(desk: Desk) -> None:
    agent, sid = served_session(desk)
    boss = desk.agent("boss", roles={"supervisor"})
    other = desk.agent("xiaoli")
    svc = tickets_of(desk.svc)
    t = svc.create(agent, title="物流一直不动", category="logistics", session_id=sid)
    with pytest.raises(Forbidden):
        svc.assign(agent, t.ticket_id, other.user_id)  # only supervisors assign to others
    assert svc.assign(boss, t.ticket_id, other.user_id).assignee_id == other.user_id
    with pytest.raises(NotFound):
        svc.assign(boss, t.ticket_id, 42)
    with desk.svc.db.session() as db:  # the new assignee hears of it in their feed
        assert db.scalar(select(AgentFeed.kind).where(AgentFeed.agent_id == other.user_id,
                                                      AgentFeed.kind == "ticket")) == "ticket"  # fmt: skip
    c = svc.comment(other, t.ticket_id, "已联系快递")
    assert c.author_id == other.user_id and c.author_role == "agent"
    with pytest.raises(InvalidInput):
        svc.comment(other, t.ticket_id, "长" * 5000)
    assert [x.ticket_no for x in svc.list(boss, TicketQuery(assignee=str(other.user_id)))] == [t.ticket_no]
    assert svc.list(other, TicketQuery(assignee="me", category="logistics"))[0].ticket_id == t.ticket_id
    assert svc.list(boss, TicketQuery(status=(Status.CLOSED,))) == []
    assert svc.list(boss, TicketQuery(text="物流"))[0].ticket_id == t.ticket_id
    assert svc.list(boss, TicketQuery(text="%")) == []  # a LIKE wildcard is a character, not a pattern
    foreign = Principal(boss.user_id, "acme", frozenset({"supervisor"}), "x")
    assert svc.list(foreign, TicketQuery()) == []
    for call in (lambda: svc.get(foreign, t.ticket_id), lambda: svc.move(foreign, t.ticket_id, Status.CLOSED),
                 lambda: svc.comment(foreign, t.ticket_id, "x"), lambda: svc.assign(foreign, t.ticket_id, None)):
        with pytest.raises(NotFound):
            call()


def test_a_queue_timeout_opens_one_ticket_and_the_message_left_after_it_joins_it(desk: Desk) -> None:
    desk.svc.presence.set_available("default", desk.agent("busy").user_id, False)  # on duty, taking nothing
    sid = desk.ask("c7", reason="after_sales").session_id
    desk.svc.customer_said("default", "c7", "买的杯子碎了", "inform")
    desk.advance(601)
    a.tick(desk.svc)
    a.tick(desk.svc)
    [t] = tickets(desk)
    assert (t.source, t.source_key, t.session_id, t.category) == ("queue_timeout", f"session:{sid}", sid, "refund")
    assert t.title == "排队超时：买的杯子碎了" and t.description == "买的杯子碎了"
    kinds, texts = desk.customers.kinds("c7"), desk.customers.texts("c7")
    assert kinds[-4:] == ["say", "say", "resume", "trigger"]  # told before the bot asks for the message
    assert texts[-2].startswith("非常抱歉") and "工单号 T2601010001" in texts[-1]
    desk.svc.leave_message("default", "c7", "c7", "麻烦补发一个")
    desk.advance(6)
    a.tick(desk.svc)
    assert len(tickets(desk)) == 1
    with desk.svc.db.session() as db:
        assert db.scalars(select(LeftMessage.status)).all() == ["ticketed"]
        c = db.scalar(select(TicketComment).where(TicketComment.ticket_id == t.ticket_id))
        assert (c.author_role, c.content) == ("customer", "麻烦补发一个")
    assert desk.customers.texts("c7")[-1] == "您的留言已补充到工单 T2601010001，客服会尽快联系您～"


def test_a_complaint_that_left_the_queue_is_a_ticket_and_an_ordinary_cancel_is_not(desk: Desk) -> None:
    desk.svc.presence.set_available("default", desk.agent("busy").user_id, False)
    desk.ask("angry", reason="complaint", tags=("vip",))
    desk.ask("calm")
    desk.svc.customer_said("default", "angry", "不用了", "deny")
    desk.svc.customer_said("default", "calm", "不用了", "deny")
    [t] = tickets(desk)
    assert (t.conversation_id, t.source, t.category, t.priority) == ("angry", "complaint", "complaint", 1)
    assert any("工单号" in x for x in desk.customers.texts("angry"))
    assert not any("工单号" in x for x in desk.customers.texts("calm"))


def test_left_messages_become_tickets_once(desk: Desk) -> None:
    desk.svc.leave_message("default", "night-1", "u1001", "快递显示签收了但我没收到")
    with desk.svc.db.session() as db:
        db.add(LeftMessage(left_id=99, tenant_id="default", conversation_id="night-2", customer_ref="u2",
                           text="客服没回我", reason="undelivered", status="new"))  # fmt: skip
    assert sweep_left_messages(desk.svc) == 2
    assert sweep_left_messages(desk.svc) == 0
    first, undelivered = sorted(tickets(desk), key=lambda t: t.conversation_id or "")
    assert (first.source, first.category, first.customer_ref) == ("left_message", "logistics", "u1001")
    assert desk.customers.texts("night-1") == [
        "您的留言已登记为工单，工单号 T2601010001。客服会在 2 小时内处理并联系您～"]
    assert undelivered.source == "undelivered" and "night-2" not in desk.customers.lines  # its channel refused


def test_a_breach_escalates_once_per_deadline(desk: Desk) -> None:
    agent, sid = served_session(desk)
    boss = desk.agent("boss", roles={"supervisor"})
    svc = tickets_of(desk.svc)
    t = svc.create(agent, title="退款没到", session_id=sid)
    paused = svc.create(agent, title="等客户", session_id=sid)
    svc.move(agent, paused.ticket_id, Status.WAITING_CUSTOMER)
    desk.advance(120 * 60 - 1)
    assert evaluate(desk.svc) == 0
    desk.advance(2)
    assert evaluate(desk.svc) == 1 and evaluate(desk.svc) == 0  # the paused one is not breached
    up = svc.get(boss, t.ticket_id)[0]
    assert (up.priority, up.escalation_level, up.sla_minutes) == (2, 1, 60)
    assert up.expired_at == desk.clock() + 3600
    with desk.svc.db.session() as db:
        fed = db.scalars(select(AgentFeed).where(AgentFeed.agent_id.is_(None), AgentFeed.kind == "ticket")).all()
        assert [f.payload["event"] for f in fed][-1] == "escalated"
        assert db.scalar(select(AuditLog.actor_role).where(AuditLog.action == "ticket.escalate")) == "system"
    assert "已自动升级：优先级 3 → 2" in svc.get(boss, t.ticket_id)[1][-1].text
    desk.advance(3601)
    a.tick(desk.svc)  # through the handoff clock this time
    again = svc.get(boss, t.ticket_id)[0]
    assert (again.priority, again.escalation_level) == (1, 2)
    assert [e["escalation_level"] for e in events(desk) if e["event"] == "escalated"] == [1, 2]


def test_questions_the_bot_could_not_answer_become_a_ticket(desk: Desk) -> None:
    said = "机器人多次未能解答，客户问了：\n· 羽绒服能机洗吗\n· 充绒量多少"
    desk.svc.leave_message("default", "bot-1", "u1001", said, "bot_failure")
    assert sweep_left_messages(desk.svc) == 1
    (t,) = tickets(desk)
    assert (t.source, t.conversation_id, t.customer_ref) == ("bot_failure", "bot-1", "u1001")
    assert t.title.startswith("机器人多次未解答：")
    assert desk.customers.texts("bot-1") == [
        "您刚才的问题已登记为工单，工单号 T2601010001。客服会在 2 小时内处理并联系您～"]
