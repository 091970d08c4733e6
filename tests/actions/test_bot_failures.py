"""Repeated bot failure: which questions of the current session the knowledge base could not answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actions.bot_failures import unanswered

if TYPE_CHECKING:
    import pytest

UNSURE = frozenset({"不确定", "不确定哪一个"})


def test_unanswered_questions_of_the_current_session_in_order() -> None:
    events = [
        {"event": "user", "text": "老问题"}, {"event": "bot", "text": "不确定"},
        {"event": "session_started"},
        {"event": "user", "text": "羽绒服能机洗吗"}, {"event": "bot", "text": "不确定"},
        {"event": "user", "text": "退货运费谁出"}, {"event": "bot", "text": "卖家承担"},
        {"event": "user", "text": "充绒量多少"}, {"event": "action", "name": "action_answer_question"},
        {"event": "bot", "text": "不确定哪一个"}, {"event": "bot", "text": "不确定"},
    ]  # fmt: skip
    # a second unsure line after the same question counts once; the session before does not count
    assert unanswered(events, UNSURE) == ["羽绒服能机洗吗", "充绒量多少"]


def test_nothing_unanswered() -> None:
    assert unanswered([{"event": "user", "text": "在吗"}, {"event": "bot", "text": "在的"}], UNSURE) == []


def test_the_third_unanswered_question_leaves_them_for_a_ticket_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import uuid

    from rasa_sdk import Tracker
    from sqlalchemy import select

    from actions import bot_failures, common
    from bot.storage import migrate
    from bot.storage.db import Database
    from handoff.app import create_app as handoff_app
    from handoff.client import HandoffClient
    from handoff.models import LeftMessage
    from tests.handoff.conftest import Customers

    from .conftest import sealed, serve_in_thread
    from .test_knowledge_actions import handoff_client_tokens

    s = common.settings()
    db = Database.from_settings(s)
    migrate.upgrade(db.engine)
    conv = f"default:u1001-{uuid.uuid4().hex[:6]}"  # the default home's database outlives one run of the tests

    def tracker(failures_before: int) -> Tracker:
        events = []
        for i in range(failures_before):
            events += [{"event": "user", "text": f"问题{i}"}, {"event": "bot", "text": "不确定"}]
        latest = {"text": "最后一问", "intent": {"name": "ask_question"}, "metadata": sealed("u1001", conv)}
        return Tracker(conv, {}, latest, events, False, None, {}, "action_listen")

    app = handoff_app(s, Customers(), run_clock=False)
    with serve_in_thread(app) as url:
        monkeypatch.setattr(bot_failures, "_client", lambda: HandoffClient(url, handoff_client_tokens(s)))
        assert asyncio.run(bot_failures.after_unsure_reply(tracker(1), UNSURE)) is None
        assert asyncio.run(bot_failures.after_unsure_reply(tracker(2), UNSURE)) == bot_failures.FOLLOW_UP
        assert asyncio.run(bot_failures.after_unsure_reply(tracker(3), UNSURE)) is None  # the fourth: no second
    with db.session() as d:
        left = d.scalars(select(LeftMessage).where(LeftMessage.conversation_id == conv)).all()
        asked = ["· 问题0", "· 问题1", "· 最后一问"]
        assert [(x.reason, x.text.splitlines()[1:]) for x in left] == [("bot_failure", asked)]
    db.dispose()
