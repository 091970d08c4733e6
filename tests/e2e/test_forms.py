"""Forms that listen, against the real Rasa server, action server and demo order API: a customer can call a form
off at any step (nothing is submitted, nothing is kept for next time), change the order number or the reason
before confirming, ask a question mid-form and carry on, and a shrug is not taken as a reason. Each test checks
the route the assistant took (the intent it heard, the actions it ran), not only the words of its reply."""

from __future__ import annotations

import pytest

from .. import kb_decisions as kbq
from ..platform import Platform
from .chat import Chat, Turn

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

ORDER = "250316084512367890"  # the demo shop's order of every customer: never submitted here
# orders these tests do submit returns for, one each (the demo shop's state lasts as long as the platform)
U1001_SHIPPED, U1001_DELIVERED, U1002_SHIPPED = "250212075519846031", "250322190817462275", "250507120033581946"


def start_return(chat: Chat, order: str = ORDER) -> Turn:
    first = chat("我要退货").text
    assert "订单号" in first and "原因" not in first  # asks for one thing at a time
    asked = chat(order)
    assert "原因" in asked.text and order in asked.text
    return asked


@pytest.mark.parametrize("call_off", ["算了", "不退了", "先不弄了"])
def test_calling_off_a_return_while_asked_for_the_reason_submits_nothing(platform: Platform, call_off: str) -> None:
    chat = Chat(platform)
    start_return(chat)
    off = chat(call_off)
    assert off.intent == "stop" and "action_stop_form" in off.actions
    assert "action_submit_return" not in off.actions and "退货申请已提交" not in off.text
    assert off.slots["return_reason"] is None and off.slots["requested_slot"] is None
    again = chat("我要退货")  # starts clean: the reason is asked again, never taken from before
    assert "原因" in again.text and "action_submit_return" not in again.actions


def test_calling_off_at_the_confirmation_with_the_button_or_in_words(platform: Platform) -> None:
    chat = Chat(platform)
    start_return(chat)
    confirm = chat("尺码小了")
    assert "确认" in confirm.text and "尺码/颜色不合适" in confirm.text and "/stop" in confirm.buttons
    off = chat("/stop")
    assert "action_stop_form" in off.actions and "action_submit_return" not in off.actions
    chat = Chat(platform)
    start_return(chat)
    chat("鞋子开胶了")
    off = chat("想了想还是不退了")
    assert off.intent == "stop" and "action_submit_return" not in off.actions


def test_calling_off_while_asked_for_the_order_number(platform: Platform) -> None:
    chat = Chat(platform)
    assert "订单号" in chat("我要退货").text
    off = chat("先不弄了 回头再说")
    assert "action_stop_form" in off.actions and off.slots["requested_slot"] is None


@pytest.mark.parametrize("shrug", ["哈哈", "不知道", "嗯嗯", "好的"])
def test_a_shrug_is_not_a_reason_and_the_reason_is_asked_again(platform: Platform, shrug: str) -> None:
    chat = Chat(platform)
    start_return(chat)
    again = chat(shrug)
    assert "原因" in again.text and again.slots["return_reason"] is None
    assert "action_submit_return" not in again.actions and "确认" not in again.text


def test_a_changed_mind_about_the_reason_or_the_order_is_applied_before_submitting(platform: Platform) -> None:
    chat = Chat(platform, "u1001")
    start_return(chat, U1001_SHIPPED)
    first = chat("尺码小了")
    assert "尺码/颜色不合适" in first.text and "确认" in first.text
    changed = chat("还是写质量问题吧 鞋底开胶了")
    assert changed.slots["return_reason"] == "质量问题" and "质量问题" in changed.text and "确认" in changed.text
    moved = chat(f"订单号错了 是{U1001_DELIVERED}")
    assert moved.slots["order_id"] == U1001_DELIVERED and U1001_DELIVERED in moved.text and "确认" in moved.text
    done = chat("确认")
    assert done.intent == "affirm" and "action_submit_return" in done.actions
    assert "退货申请已提交" in done.text and U1001_DELIVERED in done.text and "质量问题" in done.text


def test_a_question_mid_form_is_answered_and_the_form_goes_on(platform: Platform) -> None:
    chat = Chat(platform, "u1002")
    start_return(chat, U1002_SHIPPED)
    asked = chat(kbq.ANSWERED_POLICY[3])  # 下单后一般多久发货
    assert asked.intent == "ask_question" and asked.actions[:2] == ["action_answer_question", "return_form"]
    assert "参考" in asked.text and "原因" in asked.text  # the answer, then the form's question again
    assert asked.slots["return_reason"] is None
    robot = chat("你是机器人吗")
    assert robot.intent == "bot_challenge" and "utter_bot_challenge" in robot.actions and "原因" in robot.text
    assert "return_form" in robot.actions
    confirm = chat("色差太大了")
    assert "与描述不符" in confirm.text and "确认" in confirm.text
    done = chat("好的")
    assert "action_submit_return" in done.actions and "退货申请已提交" in done.text and U1002_SHIPPED in done.text


def test_address_form_confirms_takes_a_corrected_address_and_can_be_called_off(platform: Platform) -> None:
    chat = Chat(platform)
    assert "订单号" in chat("帮我改下收货地址").text
    assert "地址" in chat(ORDER).text
    first = chat("浙江省杭州市西湖区文三路90号")
    assert "确认" in first.text and "文三路90号" in first.text
    fixed = chat("不对 是浙江省杭州市西湖区文三路100号")
    assert fixed.slots["new_address"] and "文三路100号" in fixed.slots["new_address"] and "确认" in fixed.text
    off = chat("不改了")
    assert off.intent == "stop" and "action_submit_address" not in off.actions and off.slots["new_address"] is None


def test_calling_off_a_message_for_the_staff_leaves_none(platform: Platform) -> None:
    chat = Chat(platform)
    asked = chat("我要留言")
    assert "留言" in asked.text
    off = chat("算了")
    assert "action_stop_form" in off.actions and "action_submit_left_message" not in off.actions
    assert off.slots["left_message"] is None


def test_asked_whether_it_is_a_robot_it_says_so_and_offers_a_person(platform: Platform) -> None:
    turn = Chat(platform)("你是真人吗")
    assert turn.intent == "bot_challenge" and turn.actions == ["utter_bot_challenge"]
    assert "机器人" in turn.text and "/request_human" in turn.buttons


@pytest.mark.parametrize("question", [kbq.ANSWERED_POLICY[1], kbq.ANSWERED_POLICY[2]])
def test_a_rule_question_worded_as_a_request_is_answered_and_starts_no_form(platform: Platform, question: str) -> None:
    turn = Chat(platform)(question)
    # answered (by the triage of a request, or as the question it is), and no form after it
    assert turn.actions in (["action_triage_request"], ["action_answer_question"]), turn.actions
    assert "参考" in turn.text and "订单号（18 位数字）" not in turn.text
    assert turn.slots["requested_slot"] is None and turn.slots["triage"] != "form"
