"""The order-API client against the demo shop over HTTP, and its failure modes."""

from __future__ import annotations

import asyncio

import pytest

from actions.order_actions import order_error_reply
from bot.orders.client import (
    HttpOrderService,
    MalformedOrderId,
    NotYourOrder,
    OrderNotFound,
    OrderRejected,
    OrderServiceDown,
    normalize_order_id,
)

from ..conftest import free_port


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


PASTED = ["250316084512367890", " 2503 1608 4512 3678 90 ", "2503-1608-4512-3678-90", "#250316084512367890"]


@pytest.mark.parametrize("raw", PASTED)
def test_normalize_accepts_what_customers_paste(raw: str) -> None:
    assert normalize_order_id(raw) == "250316084512367890"


@pytest.mark.parametrize("raw", ["", "2503160845123", "350316084512367890", "25031608451236789a", None])
def test_normalize_rejects_non_order_numbers(raw: str | None) -> None:
    with pytest.raises(MalformedOrderId):
        normalize_order_id(raw)


def test_lookup_ownership_and_unknown(demo_shop: str) -> None:
    async def scenario() -> None:
        svc = HttpOrderService(demo_shop)
        order = await svc.get("250212075519846031", "u1001")
        assert order.status == "shipped" and order.courier == "京东物流" and order.tracking
        assert (await svc.get("250316084512367890", "anyone")).order_id == "250316084512367890"  # public demo order
        with pytest.raises(NotYourOrder):
            await svc.get("250212075519846031", "u1002")
        with pytest.raises(OrderNotFound):
            await svc.get("259999999999999999", "u1001")
        with pytest.raises(MalformedOrderId):
            await svc.get("12345", "u1001")
        await svc.aclose()

    run(scenario())


def test_state_changes_and_refusals(demo_shop: str) -> None:
    async def scenario() -> None:
        svc = HttpOrderService(demo_shop)
        with pytest.raises(OrderRejected, match="已经发货"):
            await svc.cancel("250212075519846031", "u1001")
        changed = await svc.change_address("250603164451278805", "u1001", "北京市海淀区中关村大街 1 号", None)
        assert changed.address == "北京市海淀区中关村大街 1 号"
        cancelled = await svc.cancel("250603164451278805", "u1001")
        assert cancelled.status == "cancelled"
        with pytest.raises(OrderRejected, match="不用重复"):
            await svc.cancel("250603164451278805", "u1001")
        return_id = await svc.request_return("250322190817462275", "u1001", "尺码不合适")
        assert return_id.startswith("RT")
        with pytest.raises(OrderRejected, match="退款流程"):
            await svc.request_return("250322190817462275", "u1001", "尺码不合适")
        await svc.aclose()

    run(scenario())


def test_service_down_is_a_typed_error_with_a_polite_reply() -> None:
    async def scenario() -> None:
        svc = HttpOrderService(f"http://127.0.0.1:{free_port()}", timeout=0.5)  # nothing listens there
        with pytest.raises(OrderServiceDown) as info:
            await svc.get("250316084512367890", "u1")
        await svc.aclose()
        reply = order_error_reply(info.value)
        assert "订单系统暂时有点忙" in reply and "转人工" in reply

    run(scenario())


def test_recent_lists_only_the_customers_own_orders_latest_first(demo_shop: str) -> None:
    async def go() -> None:
        svc = HttpOrderService(demo_shop)
        mine = await svc.recent("u1001", 5)
        assert mine and {o.customer_id for o in mine} == {"u1001"}
        assert [o.created_at for o in mine] == sorted((o.created_at for o in mine), reverse=True)
        assert len(await svc.recent("u1001", 1)) == 1
        assert await svc.recent("nobody") == [] and await svc.recent("*") == []  # shared demo orders: nobody's
        await svc.aclose()

    asyncio.run(go())


def test_the_agent_sees_named_orders_first_then_the_latest_and_never_anothers(demo_shop: str) -> None:
    from handoff.customer_orders import customer_orders

    async def go() -> None:
        svc = HttpOrderService(demo_shop)
        # u1001 named one of theirs, one of u1002's, and a number that does not exist
        out = await customer_orders(svc, "u1001", ["250507120033581946", "250212075519846031", "259999999999999999"])
        ids = [o["order_id"] for o in out["items"]]
        assert ids[0] == "250212075519846031" and out["items"][0]["mentioned"]
        assert "250507120033581946" not in ids and "259999999999999999" not in ids
        assert len(ids) == len(set(ids)) and "error" not in out
        assert out["items"][0]["last_tracking"] and out["items"][0]["goods"]
        await svc.aclose()
        down = HttpOrderService("http://127.0.0.1:9", timeout=0.5)
        out = await customer_orders(down, "u1001", ["250212075519846031"])
        assert out == {"items": [], "error": "订单系统暂时不可用"}
        await down.aclose()

    asyncio.run(go())
