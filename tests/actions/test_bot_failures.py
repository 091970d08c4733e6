"""Repeated bot failure: which questions of the current session the knowledge base could not answer."""

from __future__ import annotations

from actions.bot_failures import unanswered

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
