"""Forms: return/refund request and address change. Validation calls the order service."""

from __future__ import annotations

from typing import Any, ClassVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import identified_customer, latest_entity, order_service
from actions.knowledge_actions import ActionAnswerQuestion, about_address, kb_bar, policy_answer
from actions.order_actions import LOOSE_DIGITS, order_error_reply
from bot.orders.client import OrderError, normalize_order_id

RETURN_REASONS = {
    "尺码": "尺码/颜色不合适", "颜色": "尺码/颜色不合适", "大了": "尺码/颜色不合适", "小了": "尺码/颜色不合适",
    "质量": "质量问题", "坏": "质量问题", "破": "质量问题", "瑕疵": "质量问题", "开线": "质量问题",
    "不符": "与描述不符", "色差": "与描述不符", "发错": "发错货", "错发": "发错货",
    "不想要": "不想要了", "不喜欢": "不想要了", "拍错": "不想要了",
}  # fmt: skip


def normalize_reason(text: str) -> str | None:
    text = text.strip()
    if len(text) < 2 or len(text) > 200:
        return None
    for key, reason in RETURN_REASONS.items():
        if key in text:
            return reason
    return text  # free text is fine: the warehouse reads it


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

    async def validate_return_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if latest_entity(tracker, "order_id"):
            # The message was an order-number correction, not a reason: keep asking for the reason.
            return {"return_reason": None}
        reason = normalize_reason(str(slot_value or ""))
        if reason is None:
            dispatcher.utter_message(text="能简单说一下退货原因吗？比如尺码不合适、质量问题～")
        return {"return_reason": reason}


class ValidateAddressForm(OrderIdSlotMixin, FormValidationAction):
    def name(self) -> str:
        return "validate_address_form"

    async def validate_new_address(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if latest_entity(tracker, "order_id"):
            return {"new_address": None}
        text = str(slot_value or "").strip()
        if len(text) < 8 or not any(k in text for k in ("省", "市", "区", "县", "路", "街", "号", "镇")):
            dispatcher.utter_message(text="地址好像不完整哦，麻烦按「省市区 + 街道门牌」发一下完整地址～")
            return {"new_address": None}
        return {"new_address": text[:200]}


class ActionTriageRequest(Action):
    """Before a return or address-change form: a rule question gets a KB answer, a request starts the form.

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
        text = tracker.latest_message.get("text") or ""
        if form == "address_form" and not about_address(text):
            # the NLU heard "change something", not an address: answer it as a question, never ask for a new address
            return await ActionAnswerQuestion().run(dispatcher, tracker, domain)
        bar = kb_bar(intent, text, bool(latest_entity(tracker, "order_id")))
        if bar:
            policy = await policy_answer(tracker, bar)
            if policy:
                how = "申请退货退款" if form == "return_form" else "修改收货地址"
                dispatcher.utter_message(text=f"{policy}\n需要我帮您{how}的话，直接告诉我就行～")
                return []
        if identified_customer(tracker, dispatcher) is None:
            return []  # a form for an order they could not see: ask them to log in instead
        return [FollowupAction(form)]


class ActionSubmitReturn(Action):
    def name(self) -> str:
        return "action_submit_return"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        order_id, reason = tracker.get_slot("order_id"), tracker.get_slot("return_reason")
        cid = identified_customer(tracker, dispatcher)
        if cid is None:
            return [SlotSet("return_reason", None)]
        try:
            return_id = await order_service().request_return(str(order_id), cid, str(reason))
        except OrderError as exc:
            dispatcher.utter_message(text=order_error_reply(exc))
        else:
            dispatcher.utter_message(
                text=f"退货申请已提交✅ 售后单号 {return_id}（订单 {order_id}，原因：{reason}）。"
                "审核通过后会短信通知您寄回地址，商品寄回签收后 1-3 个工作日退款到原支付账户～"
            )
        return [SlotSet("return_reason", None)]


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
            return [SlotSet("new_address", None)]
        try:
            order = await order_service().change_address(str(order_id), cid, str(address), phone)
        except OrderError as exc:
            dispatcher.utter_message(text=order_error_reply(exc))
        else:
            dispatcher.utter_message(text=f"已把订单 {order.order_id} 的收货地址改为：{order.address} ✅")
        return [SlotSet("new_address", None)]

