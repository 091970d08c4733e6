"""Answer general questions from the knowledge base (RAG); unsure → clarify and offer a human."""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import settings, tenant_id
from knowledge.client import AnswerView, KnowledgeClient

log = logging.getLogger(__name__)

OFFER_HUMAN_BUTTONS = [
    {"title": "转人工客服", "payload": "/affirm"},
    {"title": "不用了", "payload": "/deny"},
]


@functools.cache
def knowledge_client() -> KnowledgeClient:
    return KnowledgeClient.from_settings(settings())


# A message that asks about a rule rather than giving an order: 退货运费谁出 / 快递一般几天到 / 能改地址吗
QUESTION_MARKERS = re.compile(r"怎|咋|如何|多久|几天|多少|多长|谁|哪|什么|啥|吗|么|嘛|能不能|可不可以|是否|[?？]")


def looks_like_question(text: str) -> bool:
    return bool(QUESTION_MARKERS.search(text))


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


async def policy_answer(tracker: Tracker) -> str | None:
    """The KB's confident answer, formatted with sources; None when unsure or down."""
    answer = await ask_kb(tracker)
    return None if answer is None or answer.abstained else format_answer(answer.text, list(answer.citations))


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
        answer = await ask_kb(tracker)
        if answer is not None and answer.abstained and answer.suggestions:
            # close but unsure: offer the nearest FAQs as buttons instead of a bare "I don't know"
            buttons = [{"title": q, "payload": q} for q in answer.suggestions]
            dispatcher.utter_message(text="小满不太确定您问的是哪一个，您是不是想问👇（都不是的话回复“人工”帮您转人工客服）",
                                     buttons=[*buttons, OFFER_HUMAN_BUTTONS[0]])  # fmt: skip
            return [SlotSet("offered_human", True)]
        if answer is None or answer.abstained:
            dispatcher.utter_message(
                text="这个问题小满还不太确定😅 您可以换个说法再问问，或者需要帮您转人工客服吗？",
                buttons=OFFER_HUMAN_BUTTONS,
            )
            return [SlotSet("offered_human", True)]
        dispatcher.utter_message(text=format_answer(answer.text, list(answer.citations)))
        return [SlotSet("offered_human", False)]
