"""A small demo of a shop's order API (the embedded default for `make run` and the tests).

It stands in for the merchant's own system, not for a backend of ours: orders live in memory, seeded
from ``demo_orders.json``; orders with ``customer_id: "*"`` belong to whoever asks, so a newcomer can try
them from any chat window. State changes (cancel, address, returns) last until the process restarts.
"""

from __future__ import annotations

import copy
import datetime as dt
import hmac
import itertools
import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.orders.client import ORDER_ID_RE
from bot.settings import Settings, home_secret

SEED = Path(__file__).with_name("demo_orders.json")
RETURN_WINDOW_DAYS = 7
_return_ids = itertools.count(1)


def api_key(settings: Settings) -> str:
    """The demo shop's API key: derived from the home's secret, so only this home's processes hold it."""
    return home_secret(settings, "orders-demo")


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"reason": reason}, status_code=status)


def create_app(seed: Path = SEED, key: str | None = None) -> Starlette:
    """``key``: the API key every route but /health requires (``X-Api-Key``), as a shop's API would."""
    orders: dict[str, dict[str, Any]] = {}
    today = dt.date.today()
    for o in json.loads(seed.read_text(encoding="utf-8")):
        # Dates are relative so the demo (and its after-sales windows) never goes stale.
        day = today - dt.timedelta(days=int(o.pop("created_days_ago")))
        o["created_at"] = f"{day:%Y-%m-%d} {o.pop('created_time')}"
        orders[o["order_id"]] = o

    def lookup(order_id: str, customer_id: str) -> dict[str, Any] | JSONResponse:
        if not ORDER_ID_RE.match(order_id):
            return _error(404, "订单号格式不对")
        order = orders.get(order_id)
        if order is None:
            return _error(404, "没有这个订单")
        if order["customer_id"] not in ("*", customer_id):
            return _error(403, "不是该用户的订单")
        return order

    async def owned(request: Request) -> tuple[dict[str, Any], dict[str, Any]] | JSONResponse:
        """(order, request body) for a POST by the order's owner, or the error response."""
        try:
            data = await request.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        found = lookup(request.path_params["order_id"], str(data.get("customer_id", "")))
        return found if isinstance(found, JSONResponse) else (found, data)

    async def list_orders(request: Request) -> JSONResponse:
        """The customer's own orders, latest first (the shared demo orders marked "*" are nobody's in a list)."""
        who = request.query_params.get("customer_id", "")
        try:
            limit = max(1, min(int(request.query_params.get("limit", "5")), 50))
        except ValueError:
            return _error(422, "limit 要是数字")
        mine = sorted((o for o in orders.values() if who not in ("", "*") and o["customer_id"] == who),
                      key=lambda o: o["created_at"], reverse=True)  # fmt: skip
        return JSONResponse({"items": mine[:limit]})

    async def get_order(request: Request) -> JSONResponse:
        found = lookup(request.path_params["order_id"], request.query_params.get("customer_id", ""))
        return found if isinstance(found, JSONResponse) else JSONResponse(found)

    async def cancel(request: Request) -> JSONResponse:
        result = await owned(request)
        if isinstance(result, JSONResponse):
            return result
        found, _ = result
        if found["status"] in ("shipped", "delivered"):
            return _error(409, "订单已经发货了，没法直接取消；可以拒收或者签收后申请退货退款")
        if found["status"] in ("cancelled", "refunded", "returning"):
            return _error(409, "这个订单已经取消/退款过了，不用重复操作")
        found["status"] = "cancelled"
        return JSONResponse(found)

    async def change_address(request: Request) -> JSONResponse:
        result = await owned(request)
        if isinstance(result, JSONResponse):
            return result
        found, data = result
        address = str(data.get("address") or "").strip()
        if len(address) < 6:
            return _error(422, "地址太短")
        if found["status"] not in ("pending_payment", "paid"):
            return _error(409, "订单已经发出，改不了地址了；可以联系快递员改派")
        found["address"] = address
        return JSONResponse(found)

    async def request_return(request: Request) -> JSONResponse:
        result = await owned(request)
        if isinstance(result, JSONResponse):
            return result
        found, data = result
        if found["status"] in ("pending_payment", "paid"):
            return _error(409, "订单还没发货，直接取消订单就能全额退款")
        if found["status"] in ("returning", "refunded", "cancelled"):
            return _error(409, "这个订单已经在退款流程里了")
        created = dt.datetime.strptime(found["created_at"], "%Y-%m-%d %H:%M")
        if dt.datetime.now() - created > dt.timedelta(days=30):
            return _error(409, f"已经超过售后期了（签收后 {RETURN_WINDOW_DAYS} 天无理由，质量问题 15 天）")
        found["status"] = "returning"
        found["return_reason"] = str(data.get("reason", ""))
        return JSONResponse({"return_id": f"RT{next(_return_ids):08d}", "order": copy.deepcopy(found)})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "orders": len(orders)})

    async def check_key(request: Request, call_next: Any) -> Any:
        given = request.headers.get("x-api-key", "")
        if key and request.url.path != "/health" and not hmac.compare_digest(given.encode(), key.encode()):
            return _error(401, "missing or wrong X-Api-Key")
        return await call_next(request)

    return Starlette(middleware=[Middleware(BaseHTTPMiddleware, dispatch=check_key)], routes=[
        Route("/health", health),
        Route("/orders", list_orders),
        Route("/orders/{order_id}", get_order),
        Route("/orders/{order_id}/cancel", cancel, methods=["POST"]),
        Route("/orders/{order_id}/address", change_address, methods=["POST"]),
        Route("/orders/{order_id}/returns", request_return, methods=["POST"]),
    ])  # fmt: skip


def main() -> None:
    from bot.serve import serve

    serve(lambda settings: create_app(key=api_key(settings)), "orders")


if __name__ == "__main__":
    main()
