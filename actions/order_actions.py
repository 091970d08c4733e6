"""Order status, logistics and cancellation: one action, driven by the intent and the order number."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import identified_customer, latest_entity, order_service
from actions.knowledge_actions import route, suggestion_buttons
from bot.orders.client import (
    MalformedOrderId,
    NotYourOrder,
    OrderError,
    OrderNotFound,
    OrderRejected,
    OrderServiceDown,
)
from bot.orders.models import Order

ORDER_TASKS = ("order_status", "logistics", "cancel_order")
# Digit runs that look like an attempt at an order number but failed the NLU regex (typos, 17/19 digits).
LOOSE_DIGITS = re.compile(r"\d[\d\s-]{8,}\d")


def order_error_reply(exc: OrderError) -> str:
    """Customer-readable Chinese for every order failure; never a traceback."""
    if isinstance(exc, MalformedOrderId):
        return "这个订单号好像不太对哦，订单号是 25 开头的 18 位数字，麻烦核对一下再发我～"
    if isinstance(exc, OrderNotFound):
        return "没有查到这个订单呢🤔 麻烦核对一下订单号，或者在「我的订单」里复制过来～"
    if isinstance(exc, NotYourOrder):
        return "这个订单不在您当前登录的账号下哦，为了保护隐私没法帮您查看，请用下单的账号来咨询～"
    if isinstance(exc, OrderRejected):
        return exc.reason
    if isinstance(exc, OrderServiceDown):
        return "订单系统暂时有点忙，没查到结果😣 请稍后再试，或者说「转人工」让人工客服帮您处理。"
    return "处理订单时出了点问题，请稍后再试～"


def status_reply(order: Order) -> str:
    text = f"订单 {order.order_id}（{order.summary}，¥{order.total:.2f}）当前状态：{order.status_text}。"
    if order.status == "paid":
        text += "我们会在付款后 48 小时内发货，请耐心等待哦～"
    elif order.status == "shipped" and order.courier:
        text += f"由{order.courier}配送，运单号 {order.tracking_no}。"
    return text


def logistics_reply(order: Order) -> str:
    if not order.tracking:
        if order.status in ("paid", "pending_payment"):
            return f"订单 {order.order_id} 还没有发货哦，付款后 48 小时内会发出，发货后就能查到物流啦～"
        return f"订单 {order.order_id} 暂时没有物流信息。"
    last = order.tracking[-1]
    head = f"订单 {order.order_id} 由{order.courier}配送（运单号 {order.tracking_no}），最新进展：\n"
    return head + f"{last.time} {last.text}"


def order_card(order: Order) -> dict[str, str]:
    """The card the web chat draws under the reply (``custom.order``): number, state, goods, latest tracking."""
    last = order.tracking[-1] if order.tracking else None
    goods = "、".join(f"{i.name} ×{i.qty}" for i in order.items[:3]) + ("等" if len(order.items) > 3 else "")
    card = {"order_no": order.order_id, "status": f"{order.status_text} · ¥{order.total:.2f}", "goods": goods}
    if last:
        card["logistics"] = f"{order.courier or ''} {last.time} {last.text}".strip()
    return card


class ActionHandleOrder(Action):
    def name(self) -> str:
        return "action_handle_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        task = intent if intent in ORDER_TASKS else tracker.get_slot("order_task")
        order_id = latest_entity(tracker, "order_id") or tracker.get_slot("order_id")
        text = tracker.latest_message.get("text") or ""

        if not order_id:
            if intent == "inform" and LOOSE_DIGITS.search(text):
                dispatcher.utter_message(text=order_error_reply(MalformedOrderId(text)))
                return []
            if intent == "inform" and latest_entity(tracker, "phone"):
                dispatcher.utter_message(text="收到手机号啦～ 不过查订单需要订单号，麻烦发一下 18 位的订单号哦")
                return []
            routed = await route(tracker) if intent in ORDER_TASKS else None
            if routed is not None and routed.question:
                # 快递一般几天到 / 包裹在转运中心躺了4天了: the router reads a policy question or a described
                # situation. Answer it from the KB, and still offer to look at the customer's own order.
                if routed.text:
                    dispatcher.utter_message(text=routed.text + "\n如果要查您自己的订单，发一下订单号给我就行～")
                    return [SlotSet("order_task", task)]
                if routed.suggestions:  # unsure what rule they ask about: the nearest ones with the order prompt
                    text = "要查您自己的订单的话，麻烦发一下订单号～ 如果是想了解规则，您是不是想问👇"
                    dispatcher.utter_message(text=text, buttons=suggestion_buttons(routed.suggestions))
                    return [SlotSet("order_task", task)] if task else []
            dispatcher.utter_message(response="utter_ask_order_id")
            if routed is not None and routed.nearest:  # their order, most likely; the rule, perhaps
                buttons = suggestion_buttons(routed.nearest)
                dispatcher.utter_message(text="如果是想了解规则，可以看看👇", buttons=buttons)
            return [SlotSet("order_task", task)] if task else []

        if not task:  # an order number out of the blue: ask what to do with it
            dispatcher.utter_message(
                text=f"收到订单号 {order_id}，请问需要帮您做什么呢？",
                buttons=[
                    {"title": "查订单状态", "payload": "/order_status"},
                    {"title": "查物流", "payload": "/logistics"},
                    {"title": "申请退货退款", "payload": "/return_refund"},
                ],
            )
            return [SlotSet("order_id", order_id)]

        cid = identified_customer(tracker, dispatcher)
        if cid is None:
            return [SlotSet("order_id", order_id), SlotSet("order_task", task)]
        service = order_service()
        try:
            if task == "cancel_order":
                order = await service.cancel(order_id, cid)
                reply = f"已为您取消订单 {order.order_id}（{order.summary}），款项会在 1-3 个工作日原路退回～"
            else:
                order = await service.get(order_id, cid)
                reply = logistics_reply(order) if task == "logistics" else status_reply(order)
        except OrderError as exc:
            dispatcher.utter_message(text=order_error_reply(exc))
            keep = not isinstance(exc, MalformedOrderId | OrderNotFound | NotYourOrder)
            return [SlotSet("order_id", order_id if keep else None), SlotSet("order_task", task)]
        dispatcher.utter_message(text=reply)
        if tracker.get_latest_input_channel() == "socketio":  # the web chat draws it; REST clients get text only
            dispatcher.utter_message(json_message={"order": order_card(order)})
        return [SlotSet("order_id", order.order_id), SlotSet("order_task", None)]
