"""An agent line Rasa did not take is sent again, once, and the inbox told; after the retry window it becomes a
follow-up ticket; two instances never send it twice (handoff.redelivery). On SQLite and on the machine's MariaDB
(whose FLOAT would round an epoch to 128 s: the retry times are doubles)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.security import Principal
from bot.settings import Settings, load_settings
from bot.storage.db import Database
from handoff import assignment as a
from handoff import redelivery
from handoff.models import AgentFeed, HandoffLine, LeftMessage
from handoff.tickets.auto import sweep_left_messages

from .conftest import Customers, Desk, make_desk
from .test_service import offers


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def desk(request: pytest.FixtureRequest, env: dict[str, str], settings: Settings) -> Iterator[Desk]:
    if request.param == "mariadb":
        settings = load_settings(env, {"database": {"url": request.getfixturevalue("mariadb_url")}})
    db = Database.from_settings(settings)
    yield make_desk(db)
    db.dispose()


class Flaky(Customers):
    """Rasa as the relay sees it: refuses while ``down``; remembers the line ids it took, as the tracker does,
    so a line asked "again" is not shown twice."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True
        self.taken: set[str] = set()
        self.calls = 0

    def say(self, conversation_id: str, text: str, buttons: Any = None, agent: Any = None, image: Any = None,
            custom: Any = None, line_id: str | None = None, again: bool = False) -> None:  # fmt: skip
        self.calls += 1
        if self.down:
            raise TimeoutError("the conversation's lock was held past the relay's patience")
        if again and line_id in self.taken:
            return
        if line_id:
            self.taken.add(line_id)
        super().say(conversation_id, text, buttons, agent, image, custom, line_id, again)


def serving(desk: Desk, conv: str) -> tuple[Principal, int, Flaky]:
    who = desk.agent(f"a{conv}")
    sid = desk.ask(conv).session_id
    a.accept(desk.svc, who, int(offers(desk, who.user_id)[-1]["offer_id"]))
    flaky = Flaky()
    desk.svc.customer = flaky
    return who, sid, flaky


def body(desk: Desk, line_id: int, sid: int) -> dict[str, Any]:
    with desk.svc.db.session() as db:
        line = db.get(HandoffLine, (line_id, sid))
        assert line is not None
        return dict(json.loads(line.content or "{}"))


def left(desk: Desk) -> list[LeftMessage]:
    with desk.svc.db.session() as db:
        rows = list(db.scalars(select(LeftMessage)))
        for r in rows:
            db.expunge(r)
        return rows


def test_a_line_rasa_did_not_take_is_delivered_on_a_later_try_and_the_inbox_told(desk: Desk) -> None:
    who, sid, flaky = serving(desk, "c-late")
    out = desk.svc.send(who, sid, "您好 我来帮您看看")
    line_id = int(out["message"]["id"])
    assert out["message"]["undelivered"] and "自动重发" in out["warning"]
    assert [(m.status, m.line_id, m.reason) for m in left(desk)] == [("retrying", line_id, "undelivered")]

    assert redelivery.redeliver_due(desk.svc) == 0  # not its turn yet
    desk.advance(redelivery.RETRY_EVERY)
    assert redelivery.redeliver_due(desk.svc) == 0  # Rasa still refuses: tried, kept
    assert flaky.calls == 2 and left(desk)[0].status == "retrying"

    flaky.down = False
    desk.advance(redelivery.RETRY_EVERY)
    assert redelivery.redeliver_due(desk.svc) == 1
    said = flaky.lines["c-late"]
    assert [(kind, x["text"], x["agent"]["id"]) for kind, x in said] == [("say", "您好 我来帮您看看", str(who.user_id))]
    assert body(desk, line_id, sid) == {"text": "您好 我来帮您看看"}  # the mark is lifted
    assert left(desk)[0].status == "delivered"
    with desk.svc.db.session() as db:
        fed = db.scalars(select(AgentFeed).where(AgentFeed.kind == "delivered")).all()
        assert [(f.agent_id, f.payload["message_id"]) for f in fed] == [(who.user_id, str(line_id))]

    desk.advance(redelivery.RETRY_EVERY)
    assert redelivery.redeliver_due(desk.svc) == 0 and flaky.calls == 3  # never again
    assert sweep_left_messages(desk.svc) == 0  # delivered: no follow-up ticket


def test_a_line_that_got_in_although_the_call_failed_is_not_shown_twice(desk: Desk) -> None:
    who, sid, flaky = serving(desk, "c-twice")
    out = desk.svc.send(who, sid, "稍等")
    flaky.taken.add(out["message"]["id"])  # the first call timed out after Rasa had taken the line
    flaky.down = False
    desk.advance(redelivery.RETRY_EVERY)
    assert redelivery.redeliver_due(desk.svc) == 1
    assert flaky.lines.get("c-twice") is None


def test_a_line_never_delivered_becomes_a_follow_up_ticket_for_its_agent(desk: Desk) -> None:
    who, sid, flaky = serving(desk, "c-gone")
    desk.svc.send(who, sid, "您的退款已经处理好了")
    for _ in range(int(redelivery.RETRY_SECONDS / redelivery.RETRY_EVERY) + 1):
        desk.advance(redelivery.RETRY_EVERY)
        redelivery.redeliver_due(desk.svc)
    assert left(desk)[0].status == "new"
    assert sweep_left_messages(desk.svc) == 1
    from bot.storage.models import Ticket

    with desk.svc.db.session() as db:
        t = db.scalar(select(Ticket))
        assert t is not None and (t.source, t.assignee_id, t.conversation_id) == ("undelivered", who.user_id, "c-gone")
    flaky.down = False
    desk.advance(redelivery.RETRY_EVERY)
    assert redelivery.redeliver_due(desk.svc) == 0 and flaky.lines.get("c-gone") is None  # too late: the ticket


def test_two_instances_never_send_one_line_twice(desk: Desk) -> None:
    who, sid, flaky = serving(desk, "c-two")
    desk.svc.send(who, sid, "在的")
    other = make_desk(desk.svc.db)
    other.svc.clock = desk.svc.clock
    other.svc.customer = flaky
    flaky.down = False
    desk.advance(redelivery.RETRY_EVERY)
    # the second instance finds the row leased by the first: a lease is taken before the line is sent
    assert redelivery._lease(desk.svc, left(desk)[0].left_id, desk.clock())
    assert redelivery.redeliver_due(other.svc) == 0
    assert flaky.lines.get("c-two") is None
    desk.advance(redelivery.LEASE_SECONDS)  # the first died holding it: its lease runs out, the other sends it
    assert redelivery.redeliver_due(other.svc) == 1
    assert [x["text"] for _, x in flaky.lines["c-two"]] == ["在的"]


def test_another_tenants_row_cannot_deliver_this_tenants_line(desk: Desk) -> None:
    who, sid, flaky = serving(desk, "c-ten")
    out = desk.svc.send(who, sid, "好的")
    with desk.svc.db.session() as db:
        row = db.scalar(select(LeftMessage))
        assert row is not None
        row.tenant_id = "other"
    flaky.down = False
    desk.advance(redelivery.RETRY_EVERY)
    assert redelivery.redeliver_due(desk.svc) == 0
    assert flaky.lines.get("c-ten") is None and body(desk, int(out["message"]["id"]), sid)["undelivered"]
