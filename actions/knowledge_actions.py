"""Answer general questions from the knowledge base (RAG); unsure → clarify and offer a human."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.bot_failures import after_unsure_reply
from actions.common import settings, tenant_id
from actions.router import Signals, shipped_router
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


@dataclass(frozen=True)
class Routed:
    """The KB's answer to the latest message and the router's verdict on it (``actions.router``)."""

    answer: AnswerView | None  # None: empty message, or the knowledge service failed
    question: bool  # the router reads the message as one for the knowledge base

    @property
    def text(self) -> str | None:
        """The answer formatted with its sources, when the message is the KB's and the KB answered."""
        if not self.question or self.answer is None or self.answer.abstained:
            return None
        return format_answer(self.answer.text, list(self.answer.citations))

    @property
    def suggestions(self) -> list[str]:
        """The nearest FAQ questions, when the message is the KB's but the KB is not sure which one."""
        if not self.question or self.answer is None or not self.answer.abstained:
            return []
        return list(self.answer.suggestions)

    @property
    def nearest(self) -> list[str]:
        """The FAQ the KB would answer with, when the router sent the message elsewhere (a task, most likely):
        offered as a button beside the task's own question, in case the customer did mean the rule."""
        if self.question or self.answer is None or self.answer.abstained:
            return []
        return [c.title for c in self.answer.citations[:1] if c.title]


async def route(tracker: Tracker) -> Routed:
    """Ask the KB about the latest message and let the router decide whether its answer is the reply. A message
    no answer could make the KB's (帮我取消订单) is not asked at all."""
    router = shipped_router()
    unasked = Signals.of(tracker.latest_message, None)
    if not router.could_take(unasked):
        return Routed(None, False)
    answer = await ask_kb(tracker)
    if answer is None:
        return Routed(None, False)
    return Routed(answer, router.probability(unasked.answered(answer)) >= router.threshold)


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
        return await answer_or_clarify(dispatcher, tracker, await route(tracker))


async def answer_or_clarify(dispatcher: CollectingDispatcher, tracker: Tracker, routed: Routed) -> list[EventType]:
    """The reply to a question: the KB's answer; else the nearest FAQs as buttons, or a clarifying reply, with a
    human offered either way."""
    if routed.text:
        dispatcher.utter_message(text=routed.text)
        return [SlotSet("offered_human", False)]
    if suggestions := routed.suggestions:
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
    """The NLU says out of scope; the KB may still know (账户数据能导给我吗): the router decides."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if not await answered_if_routed(dispatcher, tracker):
            dispatcher.utter_message(response="utter_out_of_scope")
        return []


async def answered_if_routed(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Answer from the KB when the router sends the message there (the NLU routed it elsewhere); True if so."""
    answer = (await route(tracker)).text
    if answer:
        dispatcher.utter_message(text=answer)
    return bool(answer)


class ActionProductInquiry(Action):
    """A question about one product (还有L码吗, 什么材质): the FAQ cannot know it, so no loosely related answer;
    a KB answer the router takes still wins (a shop may have put a product's care rules in its FAQ). Otherwise
    say so, point at the product page and offer a person; a "好的" then hands off (offered_human)."""

    def name(self) -> str:
        return "action_product_inquiry"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if await answered_if_routed(dispatcher, tracker):
            return []
        dispatcher.utter_message(response="utter_product_inquiry")
        return [SlotSet("offered_human", True)]
