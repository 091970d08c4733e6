"""Order actions run through rasa-sdk objects, against the demo shop and against a shop that is down."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import order_actions
from actions.order_actions import ActionHandleOrder
from bot.identity import METADATA_KEY
from bot.orders.client import HttpOrderService

from ..conftest import free_port
from .conftest import sealed


def tracker(text: str, intent: str, entities: list[dict[str, Any]] | None = None,
            slots: dict[str, Any] | None = None, sender: str = "default:u1001",
            metadata: dict[str, Any] | None = None) -> Tracker:  # fmt: skip
    """A first message; by default from customer u1001, verified by the channel."""
    meta = sealed("u1001", sender) if metadata is None else metadata
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": entities or [],
              "metadata": meta}  # fmt: skip
    return Tracker(sender, slots or {}, latest, [], False, None, {}, "action_listen")


def run_action(t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    d = CollectingDispatcher()
    events = asyncio.run(ActionHandleOrder().run(d, t, {}))
    return d.messages, events


def oid(value: str) -> list[dict[str, Any]]:
    return [{"entity": "order_id", "value": value}]


@pytest.fixture
def shop(monkeypatch: pytest.MonkeyPatch, demo_shop: str) -> None:
    monkeypatch.setattr(order_actions, "order_service", lambda: HttpOrderService(demo_shop))


def test_asks_for_the_order_number_and_remembers_the_task(shop: None) -> None:
    msgs, events = run_action(tracker("快递到哪了", "logistics"))
    assert msgs[0]["response"] == "utter_ask_order_id"
    assert {"event": "slot", "name": "order_task", "value": "logistics", "timestamp": None} in events


def test_logistics_reply_has_latest_tracking(shop: None) -> None:
    t = tracker("250316084512367890", "inform", oid("250316084512367890"), {"order_task": "logistics"})
    msgs, _ = run_action(t)
    assert "顺丰" in msgs[0]["text"] and "王师傅" in msgs[0]["text"]


def test_wrong_length_number_gets_a_format_hint(shop: None) -> None:
    msgs, _ = run_action(tracker("订单号2503160845123", "inform", slots={"order_task": "order_status"}))
    assert "18 位数字" in msgs[0]["text"]


def test_other_customers_order_is_not_shown(shop: None) -> None:
    msgs, events = run_action(tracker("查订单250507120033581946", "order_status", oid("250507120033581946")))
    assert "不在您当前登录的账号下" in msgs[0]["text"] and "实木" not in msgs[0]["text"]
    assert {"event": "slot", "name": "order_id", "value": None, "timestamp": None} in events


def test_customer_is_who_the_channel_verified(shop: None) -> None:
    t = tracker("查订单250507120033581946", "order_status", oid("250507120033581946"), sender="default:u1002",
                metadata=sealed("u1002", "default:u1002"))  # fmt: skip
    msgs, _ = run_action(t)
    assert "实木小边几" in msgs[0]["text"]


@pytest.mark.parametrize(
    "metadata",
    [
        {"customer_id": "u1002", "tenant_id": "default"},  # what a client claims
        sealed("u1002", "default:u1002"),  # a real seal replayed into another conversation
        sealed("u1002", "web-abc", seconds=-5),  # expired
        {METADATA_KEY: "forged.token.value"},
        sealed(None, "web-abc"),  # sealed, but anonymous
    ],
)
def test_no_order_without_a_verified_customer_of_this_conversation(shop: None, metadata: dict[str, Any]) -> None:
    t = tracker("查订单250507120033581946", "order_status", oid("250507120033581946"), sender="web-abc",
                metadata=metadata)  # fmt: skip
    msgs, events = run_action(t)
    assert len(msgs) == 1 and "登录" in msgs[0]["text"] and "实木" not in msgs[0]["text"]
    assert {"event": "slot", "name": "order_task", "value": "order_status", "timestamp": None} in events


def test_shop_down_gets_a_polite_reply_and_keeps_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = HttpOrderService(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    monkeypatch.setattr(order_actions, "order_service", lambda: dead)
    msgs, events = run_action(tracker("订单250316084512367890到哪了", "logistics", oid("250316084512367890")))
    assert "订单系统暂时有点忙" in msgs[0]["text"]
    assert {"event": "slot", "name": "order_task", "value": "logistics", "timestamp": None} in events


def test_the_order_card_shows_number_state_goods_and_the_latest_tracking() -> None:
    from actions.order_actions import order_card
    from bot.orders.models import Order, OrderItem, TrackingEvent

    o = Order("250316084512367890", "u1", "shipped", "2026-11-29 20:14", 259.0,
              (OrderItem("卫衣", 1, 199.0), OrderItem("袜子", 1, 60.0)), "顺丰", "SF1",
              (TrackingEvent("11-24 09:12", "已揽收"), TrackingEvent("11-25 06:05", "到达上海")))  # fmt: skip
    assert order_card(o) == {"order_no": "250316084512367890", "status": f"{o.status_text} · ¥259.00",
                             "goods": "卫衣 ×1、袜子 ×1", "logistics": "顺丰 11-25 06:05 到达上海"}  # fmt: skip
    assert "logistics" not in order_card(Order("250316084512367891", "u1", "paid", "", 9.0))
