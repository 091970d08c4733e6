"""Answer general questions from the knowledge base (RAG); unsure → clarify and offer a human."""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.bot_failures import after_unsure_reply
from actions.common import settings, tenant_id
from knowledge.client import AnswerView, KnowledgeClient

log = logging.getLogger(__name__)

UNSURE = "这个问题小满还不太确定😅 您可以换个说法再问问，或者需要帮您转人工客服吗？"
UNSURE_WITH_SUGGESTIONS = "小满不太确定您问的是哪一个，您是不是想问👇（都不是的话回复“人工”帮您转人工客服）"
OFFER_HUMAN_BUTTONS = [
    {"title": "转人工客服", "payload": "/affirm"},
    {"title": "不用了", "payload": "/deny"},
]


@functools.cache
def knowledge_client() -> KnowledgeClient:
    return KnowledgeClient.from_settings(settings())


# A message that asks about a rule rather than giving an order: 退货运费谁出 / 快递一般几天到 / 能改地址吗
QUESTION_MARKERS = re.compile(r"怎|咋|如何|多久|几天|多少|多长|谁|哪|什么|啥|吗|么|嘛|是否|[?？]"
                              # A-not-A questions (行不行, 要不要, 有没有, 可不可以) and a final 不/没 (差价能退不)
                              r"|(\w)[不没]\1|[不没][\s。！!~～]*$")


# "包裹在转运中心躺了4天了 一点动静都没有": a situation described at length, not a bare command (查物流)
MIN_SITUATION_CHARS = 8
# the customer asks us to act: start the task, do not lecture
REQUEST_MARKERS = re.compile(r"我要|我想|帮我|给我|申请|麻烦")
ORDER_INTENTS = ("order_status", "logistics", "cancel_order", "return_refund", "change_address")
# an angry customer who wants a person, not an FAQ: 我要投诉 / 找你们领导 / 服务太差
ESCALATION_MARKERS = re.compile(
    r"投诉|差评|举报|上级|领导|经理|12315|消协|工商|曝光|律师|起诉|骗子|垃圾|敷衍|态度|太差|气死"
)


# what an address change talks about; "change" without any of it (发票抬头写错了 / 颜色拍错了) is another question
ADDRESS_WORDS = re.compile(r"地址|收货|收件|寄到|送到|送货|搬家|门牌|小区|街道|路|省|市|区|县|电话|手机")


def looks_like_question(text: str) -> bool:
    return bool(QUESTION_MARKERS.search(text))


def about_address(text: str) -> bool:
    return bool(ADDRESS_WORDS.search(text))


def kb_bar(intent: str, text: str, has_order_id: bool) -> str | None:
    """How sure the KB must be to answer a message the NLU routed to ``intent``: "answer", "sure" or None.

    The NLU labels some shop questions out_of_scope or complaint (能把我的账户数据打包发我吗 → out_of_scope), and
    customers describe order problems without an order number (退回的包裹仓库早签收了 款还没到). The KB answers
    those only when it is sure; messages routed to the KB itself (ask_question, nlu_fallback) and rule
    questions worded like order requests (退货运费谁出) need the normal gate.
    """
    if intent in ("ask_question", "nlu_fallback"):
        return "answer"
    if intent == "out_of_scope":
        return "sure"
    if intent == "complaint":
        # a problem stated angrily (扣了我两次钱！！ / 优惠券是灰的点不了) still has a policy answer
        return "sure" if looks_like_question(text) or not ESCALATION_MARKERS.search(text) else None
    if intent == "change_address" and not about_address(text):
        return "answer"  # not an address at all: a question like any other (action_triage_request)
    if intent in ORDER_INTENTS and not has_order_id:
        if looks_like_question(text):
            return "answer"
        if not REQUEST_MARKERS.search(text) and len(text.strip()) >= MIN_SITUATION_CHARS:
            return "sure"
    return None


async def ask_kb(tracker: Tracker) -> AnswerView | None:
    """The knowledge service's answer to the latest message; None when empty or the service fails."""
    question = (tracker.latest_message.get("text") or "").strip()
    if not question:
        return None
    try:
        return await knowledge_client().answer(question, tenant_id(tracker), tracker.sender_id)
    except Exception:  # a KB that is down or broken must not silence the bot
        log.exception("knowledge service failed")
        return None


async def kb_reply(tracker: Tracker, bar: str = "answer") -> tuple[str | None, list[str]]:
    """(the KB's answer formatted with sources, or None; FAQ questions to offer when it is unsure).

    ``bar="sure"``: only a very confident answer counts, and nothing is offered (the NLU routed elsewhere).
    """
    answer = await ask_kb(tracker)
    if answer is None:
        return None, []
    if answer.abstained or (bar == "sure" and not answer.sure):
        return None, list(answer.suggestions) if bar == "answer" else []
    return format_answer(answer.text, list(answer.citations)), []


def complaint_suggestions(answer: AnswerView | None) -> list[str]:
    """The FAQ questions to offer an upset customer when the KB is close but not sure: its suggestions, or
    the question of the answer it would give at the normal gate."""
    if answer is None:
        return []
    if answer.abstained:
        return list(answer.suggestions)
    return [c.title for c in answer.citations[:1] if c.title]


async def policy_answer(tracker: Tracker, bar: str = "answer") -> str | None:
    """The KB's answer (``bar="sure"``: only a very confident one), formatted with sources; None otherwise."""
    return (await kb_reply(tracker, bar))[0]


def suggestion_buttons(questions: list[str]) -> list[dict[str, str]]:
    # the payload is the FAQ question itself: sent back, it is answered like any question
    return [{"title": q, "payload": q} for q in questions]


def format_answer(text: str, citations: list[Any]) -> str:
    titles = []
    for c in citations[:2]:
        title = getattr(c, "title", None)
        if title and title not in titles:
            titles.append(title)
    return text + (f"\n（参考：{'；'.join(titles)}）" if titles else "")


class ActionAnswerQuestion(Action):
    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        question = (tracker.latest_message.get("text") or "").strip()
        if not question:
            dispatcher.utter_message(response="utter_empty_message")
            return []
        answer, suggestions = await kb_reply(tracker)
        if answer:
            dispatcher.utter_message(text=answer)
            return [SlotSet("offered_human", False)]
        if suggestions:
            # close but unsure: offer the nearest FAQs as buttons instead of a bare "I don't know"
            buttons = suggestion_buttons(suggestions)
            dispatcher.utter_message(text=UNSURE_WITH_SUGGESTIONS, buttons=[*buttons, OFFER_HUMAN_BUTTONS[0]])
        else:
            dispatcher.utter_message(text=UNSURE, buttons=OFFER_HUMAN_BUTTONS)
        follow_up = await after_unsure_reply(tracker, frozenset((UNSURE, UNSURE_WITH_SUGGESTIONS)))
        if follow_up:
            dispatcher.utter_message(text=follow_up)
        return [SlotSet("offered_human", True)]


class ActionOutOfScope(Action):
    """The NLU says out of scope; the KB may still know (账户数据能导给我吗). Only a sure answer overrules it."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if not await answered_if_sure(dispatcher, tracker):
            dispatcher.utter_message(response="utter_out_of_scope")
        return []


async def answered_if_sure(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Answer from the KB only when it is sure (a message the NLU routed elsewhere); True when it did."""
    answer = await policy_answer(tracker, "sure")
    if answer:
        dispatcher.utter_message(text=answer)
    return bool(answer)


class ActionProductInquiry(Action):
    """A question about one product (还有L码吗, 什么材质): the FAQ cannot know it, so no loosely related answer;
    a sure KB answer still wins (a shop may have put a product's care rules in its FAQ). Otherwise say so, point
    at the product page and offer a person; a "好的" then hands off (offered_human)."""

    def name(self) -> str:
        return "action_product_inquiry"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if await answered_if_sure(dispatcher, tracker):
            return []
        dispatcher.utter_message(response="utter_product_inquiry")
        return [SlotSet("offered_human", True)]
