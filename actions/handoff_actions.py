"""Hand the conversation to a human agent."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # Queueing, assignment and the agent inbox belong to the handoff service (next milestone);
        # until it takes conversations, the request is acknowledged and recorded in the tracker.
        dispatcher.utter_message(
            text="好的，正在为您转接人工客服，请稍候～ 人工客服在线时间为每天 9:00-22:00，"
            "排队期间您也可以继续把问题描述发给我。"
        )
        return [SlotSet("offered_human", False)]


class ActionDeclineHuman(Action):
    def name(self) -> str:
        return "action_decline_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("offered_human", False)]
