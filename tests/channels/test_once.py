"""The pure part of at-most-once handling: which stored bot lines answered a retried message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from channels.once import client_message_id, replies_to


@dataclass
class Ev:
    type_name: str
    text: str | None = None
    message_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def test_client_ids_are_marked_and_rasa_ids_are_not() -> None:
    assert client_message_id("abc12345") == "c-abc12345"
    assert client_message_id(None) is None and client_message_id("") is None


def test_the_replies_between_the_message_and_the_next_one() -> None:
    events = [
        Ev("user", "你好", "c-first0001"), Ev("bot", "您好"),
        Ev("user", "退货运费", "c-second001"), Ev("action"),
        Ev("bot", "七天无理由…", data={"buttons": [{"title": "转人工"}]}),
        Ev("bot", "还有别的吗"), Ev("user", "谢谢", "c-third0001"), Ev("bot", "不客气"),
    ]  # fmt: skip
    assert replies_to(events, "c-second001") == [
        {"text": "七天无理由…", "buttons": [{"title": "转人工"}]}, {"text": "还有别的吗"},
    ]  # fmt: skip
    assert replies_to(events, "c-third0001") == [{"text": "不客气"}]


def test_a_message_never_stored_is_handled_and_one_without_replies_replays_nothing() -> None:
    events = [Ev("user", "在吗", "c-quiet0001"), Ev("user", "人呢", "c-next00001")]
    assert replies_to(events, "c-unknown01") is None
    assert replies_to(events, "c-quiet0001") == []
