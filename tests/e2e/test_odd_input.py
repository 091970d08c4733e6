"""Odd but ordinary input, against the real Rasa server: mixed scripts, pinyin, one emoji, a pasted order card,
a pasted link, the same question three times in one message. Each gets a reply that fits it — never silence,
never an error, never the generic "didn't understand" where the message was clear enough."""

from __future__ import annotations

import pytest

from ..platform import Platform
from .chat import Chat

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

NOT_UNDERSTOOD = "没太理解"


def turn(platform: Platform, text: str, customer: str | None = None) -> tuple[str, str, list[str]]:
    """(the replies joined, the intent heard, the actions run); every reply has something in it."""
    t = Chat(platform, customer)(text)
    assert t.replies and all(r.get("text") or r.get("buttons") or r.get("image") for r in t.replies), t.replies
    return t.text, t.intent, t.actions


def test_a_pasted_order_card_is_read_for_its_order_number(platform: Platform) -> None:
    card = "订单编号：250212075519846031\n商品：加绒连帽卫衣 燕麦色 L ×1\n实付款：¥199.00\n这单怎么还没到"
    text, _, actions = turn(platform, card, customer="u1001")
    assert "action_handle_order" in actions and "250212075519846031" in text and "京东物流" in text


@pytest.mark.parametrize("message", ["申请refund", "这件想return", "tui huo 怎么弄"])
def test_mixed_scripts_for_a_return_start_the_return(platform: Platform, message: str) -> None:
    text, intent, actions = turn(platform, message)
    assert intent == "return_refund" and "action_triage_request" in actions, (intent, actions, text)


def test_the_same_question_three_times_gets_the_one_answer(platform: Platform) -> None:
    _, intent_once, _ = turn(platform, "退货运费谁出")
    thrice, intent_thrice, _ = turn(platform, "退货运费谁出 退货运费谁出 退货运费谁出")
    assert intent_thrice == intent_once and "运费" in thrice and NOT_UNDERSTOOD not in thrice


@pytest.mark.parametrize("emoji", ["👍", "😭", "🙏"])
def test_one_emoji_gets_a_short_reply(platform: Platform, emoji: str) -> None:
    text, _, actions = turn(platform, emoji)
    assert text.strip() and actions  # answered by the assistant, not an empty body


def test_a_pasted_link_about_a_product_is_not_answered_from_a_loosely_related_faq(platform: Platform) -> None:
    text, intent, actions = turn(platform, "https://item.example.com/item.htm?id=6612345 这个卫衣还有L码吗")
    # a specific product's stock is not in the KB: an honest "can't answer here" with a person offered
    assert intent == "product_inquiry" and actions == ["action_product_inquiry"], (intent, actions)
    assert "查不到" in text and "人工" in text, text


def test_pinyin_for_a_person_reaches_the_handoff(platform: Platform) -> None:
    text, intent, actions = turn(platform, "zhuan ren gong")
    assert intent == "request_human" and "action_request_human" in actions, (intent, actions, text)
