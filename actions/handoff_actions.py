"""Hand the conversation to a person (the handoff service queues it), take a message when nobody can, and
record the customer's rating of the human service."""

from __future__ import annotations

import functools
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, ConversationPaused, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import customer, settings
from actions.knowledge_actions import (
    OFFER_HUMAN_BUTTONS,
    route,
    suggestion_buttons,
)
from handoff import domain as lines
from handoff.client import HandoffClient

log = logging.getLogger(__name__)
UNREACHABLE = "人工客服系统暂时连不上😣 您可以把问题留言给我，客服会尽快联系您。"
LEFT = "留言已收到✅ 客服上班后会第一时间联系您～ 还有别的问题也可以直接问我。"
LEFT_LOCALLY = "留言已记下✅ 客服会尽快联系您～"
CLOSE_QUESTIONS = "您看是不是这个问题👇 都不是的话点“转人工客服”，马上帮您转接。"
THANKS_FOR_RATING = "谢谢您的评价🙏 我们会继续努力～ 还有问题随时找我。"


@functools.cache
def handoff_client() -> HandoffClient:
    return HandoffClient.from_settings(settings())


async def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
    """Queue the conversation for a person and pause the bot; if nobody can take it, take a message instead.
    Never a false "正在转接": what the customer reads is what the handoff service did."""
    who = customer(tracker)
    latest = tracker.latest_message or {}
    intent = (latest.get("intent") or {}).get("name")
    channel = tracker.get_latest_input_channel() or "rest"
    ref = {"id": who.customer_id or tracker.sender_id, "name": who.name, "tags": []}
    try:
        ticket = await handoff_client().request(who.tenant_id, tracker.sender_id, channel, ref, intent,
                                                latest.get("text") or "")  # fmt: skip
    except Exception:
        log.exception("handoff service unreachable")
        dispatcher.utter_message(text=UNREACHABLE)
        return [SlotSet("offered_human", False), FollowupAction("leave_message_form")]
    if ticket.get("active_agent"):
        name = str(ticket["active_agent"])
        name = name if name.startswith("客服") else f"客服{name}"  # a nickname may already say 客服
        dispatcher.utter_message(text=f"{name}正在为您服务，直接说就好～")
        return [SlotSet("offered_human", False), ConversationPaused()]
    if not ticket.get("on_duty"):
        hours = settings().raw.get("handoff", {}).get("working_hours", "09:00-22:00")
        off_hours = ticket.get("closed_because") == "off_hours"
        dispatcher.utter_message(text=lines.OFF_DUTY.format(hours=hours) if off_hours else lines.NO_AGENTS)
        return [SlotSet("offered_human", False), FollowupAction("leave_message_form")]
    ahead = max(0, int(ticket.get("position") or 1) - 1)
    text = lines.STILL_WAITING if ticket.get("already_waiting") else lines.QUEUED
    dispatcher.utter_message(text=text.format(ahead=ahead, minutes=lines.minutes(ticket.get("eta_seconds"))))
    return [SlotSet("offered_human", False), ConversationPaused()]


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return await hand_off(dispatcher, tracker)


class ActionSubmitLeftMessage(Action):
    def name(self) -> str:
        return "action_submit_left_message"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        text = str(tracker.get_slot("left_message") or "").strip()
        who = customer(tracker)
        if text:
            try:
                await handoff_client().leave_message(who.tenant_id, tracker.sender_id,
                                                     who.customer_id or tracker.sender_id, text)  # fmt: skip
                dispatcher.utter_message(text=LEFT)
            except Exception:  # the handoff service is down: keep the message in the database ourselves
                log.exception("handoff service unreachable; storing the left message directly")
                store_left_message(who.tenant_id, tracker.sender_id, who.customer_id or tracker.sender_id, text)
                dispatcher.utter_message(text=LEFT_LOCALLY)
        return [SlotSet("left_message", None), ActiveLoop(None)]


def store_left_message(tenant_id: str, conversation_id: str, customer_id: str, text: str) -> None:
    from bot.ids import new_id
    from bot.storage.db import Database
    from handoff.models import LeftMessage

    with Database.from_settings(settings()).session() as s:
        s.add(LeftMessage(left_id=new_id(), tenant_id=tenant_id, conversation_id=conversation_id,
                          customer_ref=customer_id[:128], text=text[:2000], status="new"))  # fmt: skip


class ActionRecordCsat(Action):
    def name(self) -> str:
        return "action_record_csat"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        raw = str(tracker.get_slot("csat") or "")
        if raw.isdigit() and 1 <= int(raw) <= 5:
            try:
                await handoff_client().csat(customer(tracker).tenant_id, tracker.sender_id, int(raw))
            except Exception:
                log.exception("could not record CSAT")
        dispatcher.utter_message(text=THANKS_FOR_RATING)
        return [SlotSet("csat", None)]


class ActionDeclineHuman(Action):
    def name(self) -> str:
        return "action_decline_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_anything_else")
        return [SlotSet("offered_human", False)]


class ActionHandleComplaint(Action):
    """A complaint the router reads as a question or a stated problem with a policy answer (满减为什么没生效 /
    同一笔钱被扣了两回) gets the KB answer and the offer of a human; when the KB is only close, an apology with the
    nearest FAQs as buttons beside 转人工客服; an escalation (我要投诉 / 找你们领导) is handed to a human at once."""

    def name(self) -> str:
        return "action_handle_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        routed = await route(tracker)
        if routed.text:
            reply = f"{routed.text}\n还没解决的话，我马上帮您转人工客服。"
            dispatcher.utter_message(text=reply, buttons=OFFER_HUMAN_BUTTONS)
            return [SlotSet("offered_human", True)]
        dispatcher.utter_message(response="utter_complaint_sorry")
        if routed.suggestions:
            buttons = [*suggestion_buttons(routed.suggestions), OFFER_HUMAN_BUTTONS[0]]
            dispatcher.utter_message(text=CLOSE_QUESTIONS, buttons=buttons)
            return [SlotSet("offered_human", True)]
        return await hand_off(dispatcher, tracker)
