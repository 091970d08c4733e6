"""Forms: return/refund request and address change. Validation calls the order service."""

from __future__ import annotations

from typing import Any, ClassVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import identified_customer, latest_entity, order_service
from actions.knowledge_actions import answer_or_clarify, route
from actions.order_actions import LOOSE_DIGITS, order_error_reply
from actions.slot_meaning import has_content, is_answer
from bot.orders.client import OrderError, normalize_order_id

RETURN_REASONS = {
    "尺码": "尺码/颜色不合适", "颜色": "尺码/颜色不合适", "大了": "尺码/颜色不合适", "小了": "尺码/颜色不合适",
    "质量": "质量问题", "坏": "质量问题", "破": "质量问题", "瑕疵": "质量问题", "开线": "质量问题",
    "不符": "与描述不符", "色差": "与描述不符", "发错": "发错货", "错发": "发错货",
    "不想要": "不想要了", "不喜欢": "不想要了", "拍错": "不想要了", "无理由": "不想要了",
}  # fmt: skip


# the values each form collects: cleared when a form starts or is called off, so an old answer is never reused
FORM_SLOTS = {"return_form": ("return_reason", "form_confirmed"), "address_form": ("new_address", "form_confirmed"),
              "leave_message_form": ("left_message",)}  # fmt: skip
# below this the NLU is not sure the reply was not "call it off" / "no"
CALL_OFF_CONFIDENCE = 0.3


def normalize_reason(text: str) -> str | None:
    text = text.strip()
    if len(text) < 2 or len(text) > 200 or not has_content(text):
        return None
    # the first reason word said wins: 色差太大了 is about the colour, not the size (大了)
    found = sorted((text.find(key), reason) for key, reason in RETURN_REASONS.items() if key in text)
    return found[0][1] if found else text  # free text is fine: the warehouse reads it


def reads_as_answer(tracker: Tracker) -> bool:
    """The latest message can be a free-text value: the NLU did not hear a call-off, a yes/no, a question ...,
    not even as a close second, and it says something."""
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name")
    ranking = message.get("intent_ranking") or []
    calls_off = any(r.get("name") in ("stop", "deny") and float(r.get("confidence") or 0) >= CALL_OFF_CONFIDENCE
                    for r in ranking)  # fmt: skip
    return not calls_off and is_answer(intent, message.get("text") or "")


def confirming(tracker: Tracker) -> bool:
    return tracker.get_slot("requested_slot") == "form_confirmed"


class OrderIdSlotMixin:
    """Shared order-number handling: loose digits become a clear error, ownership is checked once."""

    async def extract_order_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # A customer correcting the number mid-form ("不对，是 25…") updates it through the entity mapping;
        # a wrong-length number (no entity) is caught here so we can say what is wrong with it.
        if tracker.get_slot("requested_slot") != "order_id" or latest_entity(tracker, "order_id"):
            return {}
        match = LOOSE_DIGITS.search(tracker.latest_message.get("text") or "")
        return {"order_id": match.group(0)} if match else {}

    async def validate_order_id(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        cid = identified_customer(tracker, dispatcher)
        if cid is None:
            return {"order_id": None}
        try:
            oid = normalize_order_id(str(slot_value))
            await order_service().get(oid, cid)
        except OrderError as exc:
            dispatcher.utter_message(text=order_error_reply(exc))
            return {"order_id": None}
        return {"order_id": oid}


class ValidateReturnForm(OrderIdSlotMixin, FormValidationAction):
    def name(self) -> str:
        return "validate_return_form"

    async def extract_return_reason(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # at "确认提交？" a new reason changes the reason (the domain's from_text only listens when it is asked for)
        if not confirming(tracker) or latest_entity(tracker, "order_id") or not reads_as_answer(tracker):
            return {}
        return {"return_reason": tracker.latest_message.get("text")}

    async def validate_return_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if slot_value is None:
            return {"return_reason": None}  # cleared as the form starts: nothing said yet, nothing to correct
        if latest_entity(tracker, "order_id") and not confirming(tracker):
            # The message was an order-number correction, not a reason: keep asking for the reason.
            return {"return_reason": None}
        reason = normalize_reason(str(slot_value)) if reads_as_answer(tracker) else None
        if reason is None:
            dispatcher.utter_message(text="能简单说一下退货原因吗？比如尺码不合适、质量问题～")
        return {"return_reason": reason}


class ValidateAddressForm(OrderIdSlotMixin, FormValidationAction):
    def name(self) -> str:
        return "validate_address_form"

    async def extract_new_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = tracker.latest_message.get("text") or ""
        if not confirming(tracker) or latest_entity(tracker, "order_id") or not looks_like_address(text):
            return {}
        return {"new_address": text}  # a new address at "确认修改？" replaces the one to confirm

    async def validate_new_address(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if slot_value is None:
            return {"new_address": None}
        if latest_entity(tracker, "order_id") and not confirming(tracker):
            return {"new_address": None}
        text = str(slot_value).strip()
        if not looks_like_address(text):
            dispatcher.utter_message(text="地址好像不完整哦，麻烦按「省市区 + 街道门牌」发一下完整地址～")
            return {"new_address": None}
        return {"new_address": text[:200]}


def looks_like_address(text: str) -> bool:
    text = text.strip()
    return len(text) >= 8 and any(k in text for k in ("省", "市", "区", "县", "路", "街", "号", "镇"))


class ValidateLeaveMessageForm(FormValidationAction):
    def name(self) -> str:
        return "validate_leave_message_form"

    async def validate_left_message(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if slot_value is None:
            return {"left_message": None}
        text = str(slot_value).strip()
        if not reads_as_answer(tracker) or not has_content(text):
            dispatcher.utter_message(text="留言的内容是？写上问题和方便联系的时间，客服看到会尽快联系您～")
            return {"left_message": None}
        return {"left_message": text}


# what to say when the customer shrugs at a form's question (不知道 / 不清楚), by the slot asked for
SHRUG_HINTS = {
    "order_id": "没关系～ 订单号在「我的订单」里点开那一单就能复制。",
    "return_reason": "没关系～ 简单说说哪里不满意就行，比如尺码不合适、有质量问题。",
    "new_address": "没关系～ 想好新地址再发给我就行。",
    "left_message": "没关系～ 想到什么写什么就好。",
}  # fmt: skip


def active_form(tracker: Tracker) -> str | None:
    return tracker.active_loop.get("name") if tracker.active_loop else None


def stopped(dispatcher: CollectingDispatcher) -> list[EventType]:
    """Say the form is called off and forget what it collected, so the next time starts clean."""
    dispatcher.utter_message(response="utter_form_stopped")
    return [SlotSet(slot, None) for slot in sorted({s for slots in FORM_SLOTS.values() for s in slots})]


class ActionDenyInForm(Action):
    """A "no" in the middle of a form. 不用了 / 不要 calls the form off; a shrug (不知道, 不清楚) is not a "no" to
    the whole task: the form's question is asked again, with a hint and the way out."""

    def name(self) -> str:
        return "action_deny_in_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        form = active_form(tracker)
        if form and not has_content(tracker.latest_message.get("text") or ""):
            hint = SHRUG_HINTS.get(str(tracker.get_slot("requested_slot")), "没关系～")
            dispatcher.utter_message(text=f"{hint}不办了的话说「算了」就行。")
            return [FollowupAction(form)]
        return [ActiveLoop(None), SlotSet("requested_slot", None), *stopped(dispatcher)]


class ActionNudgeForm(Action):
    """嗯 / 好的 where the form asked for an order number, a reason or an address: not an answer and not a "no";
    the form asks its question again (a "好的" at 确认提交？ never comes here: it is the answer)."""

    def name(self) -> str:
        return "action_nudge_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        form = active_form(tracker)
        return [FollowupAction(form)] if form else []


class ActionStopForm(Action):
    """The customer called the form off (算了 / 不退了 / the 先不退了 button): nothing is submitted, and what was
    collected for it is forgotten so the next time starts clean."""

    def name(self) -> str:
        return "action_stop_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return stopped(dispatcher)


class ActionTriageRequest(Action):
    """Before a return or address-change form: a rule question gets a KB answer, a request starts the form.

    The verdict is the slot ``triage`` (``form`` / ``answered``); the rules start the form on ``form``, so the
    flow stays visible in data/rules.yml and in Rasa's test stories.

    退货运费谁出 / 地址填错了怎么办 are policy questions worded like requests; starting a form for them asks
    for an order number the customer never meant to give.
    """

    FORMS: ClassVar[dict[str, str]] = {"return_refund": "return_form", "change_address": "address_form"}

    def name(self) -> str:
        return "action_triage_request"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        form = self.FORMS.get(intent, "return_form")
        routed = await route(tracker)
        if routed.text:
            how = "申请退货退款" if form == "return_form" else "修改收货地址"
            dispatcher.utter_message(text=f"{routed.text}\n需要我帮您{how}的话，直接告诉我就行～")
            return [SlotSet("triage", "answered")]
        if routed.question and (routed.suggestions or form == "address_form"):
            # a question the KB cannot pin down (发票抬头写错了 is no new address): the nearest FAQs or a
            # clarifying reply, never a form the customer did not ask for
            return [*await answer_or_clarify(dispatcher, tracker, routed), SlotSet("triage", "answered")]
        if identified_customer(tracker, dispatcher) is None:
            return [SlotSet("triage", "answered")]  # a form for an order they could not see: log in first
        return [*(SlotSet(slot, None) for slot in FORM_SLOTS[form]), SlotSet("triage", "form")]


class ActionSubmitReturn(Action):
    def name(self) -> str:
        return "action_submit_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        order_id, reason = tracker.get_slot("order_id"), tracker.get_slot("return_reason")
        cid = identified_customer(tracker, dispatcher)
        if cid is None:
            return [SlotSet("return_reason", None), SlotSet("form_confirmed", None)]
        try:
            return_id = await order_service().request_return(str(order_id), cid, str(reason))
        except OrderError as exc:
            dispatcher.utter_message(text=order_error_reply(exc))
        else:
            dispatcher.utter_message(
                text=f"退货申请已提交✅ 售后单号 {return_id}（订单 {order_id}，原因：{reason}）。"
                "审核通过后会短信通知您寄回地址，商品寄回签收后 1-3 个工作日退款到原支付账户～"
            )
        return [SlotSet("return_reason", None), SlotSet("form_confirmed", None)]


class ActionSubmitAddress(Action):
    def name(self) -> str:
        return "action_submit_address"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        order_id, address = tracker.get_slot("order_id"), tracker.get_slot("new_address")
        phone = tracker.get_slot("phone")
        cid = identified_customer(tracker, dispatcher)
        if cid is None:
            return [SlotSet("new_address", None), SlotSet("form_confirmed", None)]
        try:
            order = await order_service().change_address(str(order_id), cid, str(address), phone)
        except OrderError as exc:
            dispatcher.utter_message(text=order_error_reply(exc))
        else:
            dispatcher.utter_message(text=f"已把订单 {order.order_id} 的收货地址改为：{order.address} ✅")
        return [SlotSet("new_address", None), SlotSet("form_confirmed", None)]

