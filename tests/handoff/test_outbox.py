"""Agent lines on a rationed channel (WeChat): quick lines merged while one is in flight, each caller told
whether its own line arrived, and a refused line kept for a follow-up (handoff.outbox, HandoffService.send)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from handoff.assignment import accept
from handoff.domain import CustomerRef
from handoff.models import LeftMessage
from handoff.outbox import Line, Outbox, batches
from tests.handoff.conftest import Desk


def test_runs_of_text_lines_merge_and_anything_else_goes_alone() -> None:
    lines = [Line("a"), Line("b"), Line("", image="https://x/1.png"), Line("c"), Line("d", custom={"file": {}})]
    assert [[x.text for x in b] for b in batches(lines)] == [["a", "b"], [""], ["c"], ["d"]]


class SlowChannel:
    def __init__(self, seconds: float = 0.2, ok: bool = True) -> None:
        self.sent: list[str] = []
        self.seconds, self.ok = seconds, ok
        self.first_started = threading.Event()

    def __call__(self, conversation: str, line: Line) -> bool:
        self.first_started.set()
        time.sleep(self.seconds)
        self.sent.append(line.text)
        return self.ok


def test_lines_queued_behind_one_in_flight_go_as_one_message_in_order() -> None:
    channel = SlowChannel()
    box = Outbox(channel)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(box.send, "c1", Line("您好"))
        channel.first_started.wait(2)
        rest = [pool.submit(box.send, "c1", Line(t)) for t in ("退款已经提交了", "1-3 个工作日到账", "还有别的问题吗")]
        other = pool.submit(box.send, "c2", Line("另一位顾客"))  # another conversation is not held up
        done = [first.result(5), *(f.result(5) for f in rest)]
        assert other.result(5).delivered
    assert channel.sent[0] == "您好" and "另一位顾客" in channel.sent
    merged = [t for t in channel.sent if t not in ("您好", "另一位顾客")]
    assert merged == ["退款已经提交了\n1-3 个工作日到账\n还有别的问题吗"]
    assert all(x.delivered for x in done) and [x.merged for x in done] == [False, False, True, True]
    assert box._queues == {}  # nothing left in flight


def test_a_lone_line_is_sent_at_once() -> None:
    channel = SlowChannel(0.0)
    box = Outbox(channel)
    t0 = time.perf_counter()
    assert box.send("c1", Line("在的")).delivered and not box.send("c1", Line("请讲")).merged
    assert channel.sent == ["在的", "请讲"] and time.perf_counter() - t0 < 0.5


def test_a_refused_merged_message_is_refused_for_every_line_in_it() -> None:
    channel = SlowChannel(0.2, ok=False)
    box = Outbox(channel)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(box.send, "c1", Line("一"))
        channel.first_started.wait(2)
        later = [pool.submit(box.send, "c1", Line(t)) for t in ("二", "三")]
        assert [f.result(5).delivered for f in (first, *later)] == [False, False, False]


# --- through the service ------------------------------------------------------------------------------
def wechat_chat(desk: Desk) -> tuple[object, int]:
    agent = desk.agent("wx1")
    ref = CustomerRef("default", "default:wx-oABC123456", "wechat", "oABC123456", "微信顾客")
    ticket = desk.svc.request(ref, "other")
    with desk.svc.db.session() as s:
        from handoff import repository as repo

        offer = repo.pending_offer(s, ticket.session_id)
    accept(desk.svc, agent, offer.offer_id)
    return agent, ticket.session_id


def test_an_agents_quick_lines_on_wechat_use_one_message_of_the_quota(desk: Desk) -> None:
    agent, sid = wechat_chat(desk)
    say, started = desk.customers.say, threading.Event()

    def slow_say(conversation: str, text: str, *args: object) -> None:
        if not started.is_set():  # the first line stays in flight until both others queue behind it (not a
            started.set()  # fixed sleep: on a busy machine they can take longer than any sleep to get there)
            deadline = time.monotonic() + 10
            while len(desk.svc.outbox._queues.get(conversation, [])) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        say(conversation, text, *args)

    desk.customers.say = slow_say  # type: ignore[method-assign]
    desk.svc.customer_said("default", "default:wx-oABC123456", "退款怎么还没到", None)
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(desk.svc.send, agent, sid, "您好 我看一下")
        started.wait(2)
        rest = [pool.submit(desk.svc.send, agent, sid, "已经退了")]
        # the next line only once this one has queued, as an agent types them: two sends started together could
        # queue either way round
        deadline = time.monotonic() + 10
        while not desk.svc.outbox._queues.get("default:wx-oABC123456") and time.monotonic() < deadline:
            time.sleep(0.01)
        rest.append(pool.submit(desk.svc.send, agent, sid, "原路返回 1-3 天"))
        sent = [first.result(5), *(f.result(5) for f in rest)]
    assert desk.customers.texts("default:wx-oABC123456")[-2:] == ["您好 我看一下", "已经退了\n原路返回 1-3 天"]
    assert [m["message"].get("merged", False) for m in sent] == [False, False, True]
    with desk.svc.db.session() as s:
        from handoff.models import HandoffLine

        bodies = [m.content for m in s.scalars(select(HandoffLine).where(HandoffLine.session_id == sid))]
    assert sum('"merged": true' in b for b in bodies) == 1  # the detail view's quota counts 2 lines, not 3


def test_a_line_wechat_refuses_is_marked_and_kept_for_a_follow_up(desk: Desk) -> None:
    agent, sid = wechat_chat(desk)

    def refused(conversation: str, text: str, *args: object) -> None:
        raise RuntimeError("WeChat API error 45015: response out of time limit")

    desk.customers.say = refused  # type: ignore[method-assign]
    got = desk.svc.send(agent, sid, "您的退款已经处理好了")
    assert got["message"]["undelivered"] and "没有送达" in got["warning"]
    with desk.svc.db.session() as s:
        left = s.scalars(select(LeftMessage).where(LeftMessage.session_id == sid)).all()
        kept = [(x.reason, x.text, x.customer_ref) for x in left]
        assert kept == [("undelivered", "您的退款已经处理好了", "oABC123456")]
