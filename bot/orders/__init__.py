"""The shop's order API behind one adapter (``orders.type``: ``demo``, ``http`` or a dotted class path), used by
the actions (look up, cancel, change the address, return) and the agent inbox (the customer's orders); plus the
demo shop server ``csbot run`` starts."""

from __future__ import annotations

from bot.orders.client import HttpOrderService, OrderService
from bot.settings import Settings


def create_order_service(s: Settings) -> OrderService:
    b = s.backend("orders")
    if b.type == "demo":
        from bot.orders.demo_server import api_key

        return HttpOrderService(s.services.url("orders"), api_key(s), float(b.get("timeout", 3.0)))
    if b.type == "http":
        return HttpOrderService(
            b.require("base_url", "the shop order API base URL"), b.get("api_key"), float(b.get("timeout", 3.0))
        )
    from bot.plugins import load_class

    return load_class(b.type, "orders").from_options(b.options)  # type: ignore[no-any-return]
