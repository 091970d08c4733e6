"""The order-API client against the demo shop over HTTP, and its failure modes."""

from __future__ import annotations

import asyncio

import pytest

from actions.order_actions import order_error_reply
from actions.orders.client import (
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
