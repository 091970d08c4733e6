"""The customer's orders for the agent's context panel, through the shop's order adapter (``bot.orders``): their
latest orders and the ones they named in the conversation, so the agent never asks for an order number twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from bot.orders.client import OrderError, OrderService, OrderServiceDown
from bot.orders.models import Order

MENTIONED = 3  # the last few numbers the customer typed
RECENT = 5


def order_view(o: Order, mentioned: bool = False) -> dict[str, Any]:
    last = o.tracking[-1] if o.tracking else None
    return {"order_id": o.order_id, "status": o.status, "status_text": o.status_text, "created_at": o.created_at,
            "total": o.total, "goods": [f"{i.name} ×{i.qty}" for i in o.items], "courier": o.courier,
            "tracking_no": o.tracking_no, "last_tracking": f"{last.time} {last.text}" if last else None,
            "mentioned": mentioned}  # fmt: skip


async def customer_orders(orders: OrderService, customer_ref: str, mentioned: Sequence[str]) -> dict[str, Any]:
    """``{"items": [...], "error"?}``: the orders named in the chat first, then the latest others. An order the
    customer named but does not own (or that does not exist) is left out; the shop's API being down is said."""
    wanted = list(dict.fromkeys(mentioned))[-MENTIONED:]
    named = await asyncio.gather(*(orders.get(n, customer_ref) for n in wanted), return_exceptions=True)
    recent: list[Order] | BaseException
    try:
        recent = await orders.recent(customer_ref, RECENT)
    except OrderError as exc:
        recent = exc
    items = [order_view(o, True) for o in named if isinstance(o, Order)]
    seen = {i["order_id"] for i in items}
    if isinstance(recent, list):
        items += [order_view(o) for o in recent if o.order_id not in seen]
    failures = [r for r in [*named, recent] if isinstance(r, BaseException)]
    down = [r for r in failures if isinstance(r, OrderServiceDown)]
    return {"items": items, **({"error": "订单系统暂时不可用"} if down else {})}
