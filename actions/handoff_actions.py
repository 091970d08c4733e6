"""Hand the conversation to a human agent."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge_actions import (
    OFFER_HUMAN_BUTTONS,
    ask_kb,
    complaint_suggestions,
    format_answer,
    kb_bar,
    suggestion_buttons,
)


def hand_off(dispatcher: CollectingDispatcher) -> list[EventType]:
    # Queueing, assignment and the agent inbox belong to the handoff service (next milestone);
    # until it takes conversations, the request is acknowledged and recorded in the tracker.
    dispatcher.utter_message(
        text="好的，正在为您转接人工客服，请稍候～ 人工客服在线时间为每天 9:00-22:00，"
        "排队期间您也可以继续把问题描述发给我。"
    )
    return [SlotSet("offered_human", False)]


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return hand_off(dispatcher)


class ActionDeclineHuman(Action):
    def name(self) -> str:
        return "action_decline_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("offered_human", False)]


class ActionHandleComplaint(Action):
    """A complaint that is really a question or a stated problem (秒杀的东西为啥不让用券 / 扣了我两次钱) gets a sure
    KB answer and the offer of a human; when the KB is only close, an apology with the nearest FAQs as buttons
    beside 转人工客服; an escalation (我要投诉 / 找你们领导), or nothing close, is handed to a human at once."""

    def name(self) -> str:
        return "action_handle_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        answer = await ask_kb(tracker) if kb_bar("complaint", text, False) else None
        if answer is not None and not answer.abstained and answer.sure:
            reply = f"{format_answer(answer.text, list(answer.citations))}\n还没解决的话，我马上帮您转人工客服。"
            dispatcher.utter_message(text=reply, buttons=OFFER_HUMAN_BUTTONS)
            return [SlotSet("offered_human", True)]
        dispatcher.utter_message(response="utter_complaint_sorry")
        close = complaint_suggestions(answer)
        if close:
            dispatcher.utter_message(text="您看是不是这个问题👇 都不是的话点“转人工客服”，马上帮您转接。",
                                     buttons=[*suggestion_buttons(close), OFFER_HUMAN_BUTTONS[0]])  # fmt: skip
            return [SlotSet("offered_human", True)]
        return hand_off(dispatcher)
