"""HTTP client for the shop's order API. Errors become typed exceptions the actions turn into replies.

API (the demo server implements it; a shop adapts its own API to it or plugs a class by dotted path):
  GET  /orders?customer_id=C&limit=N         → 200 {"items": [order, …]} the customer's latest first
  GET  /orders/{id}?customer_id=C            → 200 order | 403 not yours | 404 unknown
  POST /orders/{id}/cancel   {customer_id}   → 200 order | 409 {reason}
  POST /orders/{id}/address  {customer_id, address, phone?} → 200 order | 409 {reason}
  POST /orders/{id}/returns  {customer_id, reason}          → 200 {return_id, order} | 409 {reason}
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import httpx

from bot.orders.models import Order

ORDER_ID_RE = re.compile(r"^25\d{16}$")


class OrderError(Exception):
    pass


class MalformedOrderId(OrderError):
    pass


class OrderNotFound(OrderError):
    pass


class NotYourOrder(OrderError):
    pass


class OrderRejected(OrderError):
    """The shop refused the change (already shipped, window closed...). ``reason`` is customer-readable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OrderServiceDown(OrderError):
    pass


class OrderService(Protocol):
    async def recent(self, customer_id: str, limit: int = 5) -> list[Order]: ...
    async def get(self, order_id: str, customer_id: str) -> Order: ...
    async def cancel(self, order_id: str, customer_id: str) -> Order: ...
    async def change_address(self, order_id: str, customer_id: str, address: str, phone: str | None) -> Order: ...
    async def request_return(self, order_id: str, customer_id: str, reason: str) -> str: ...


def normalize_order_id(raw: str | None) -> str:
    """Strip spaces/punctuation customers add; raise MalformedOrderId if it is not an order number."""
    digits = re.sub(r"[\s\-_#：:]", "", raw or "")
    if not ORDER_ID_RE.match(digits):
        raise MalformedOrderId(raw or "")
    return digits


class HttpOrderService:
    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 3.0) -> None:
        headers = {"X-Api-Key": api_key} if api_key else {}
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict:
        try:
            resp = await self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise OrderServiceDown(str(exc)) from exc
        if resp.status_code == 404:
            raise OrderNotFound(path)
        if resp.status_code == 403:
            raise NotYourOrder(path)
        if resp.status_code == 409:
            raise OrderRejected(resp.json().get("reason", "这个操作暂时办理不了"))
        if resp.status_code >= 400:
            raise OrderServiceDown(f"HTTP {resp.status_code}")
        try:
            return resp.json()
        except ValueError as exc:
            raise OrderServiceDown("invalid JSON from order service") from exc

    async def recent(self, customer_id: str, limit: int = 5) -> list[Order]:
        data = await self._call("GET", "/orders", params={"customer_id": customer_id, "limit": limit})
        return [Order.from_json(o) for o in (data.get("items") or [])[:limit]]

    async def get(self, order_id: str, customer_id: str) -> Order:
        oid = normalize_order_id(order_id)
        return Order.from_json(await self._call("GET", f"/orders/{oid}", params={"customer_id": customer_id}))

    async def cancel(self, order_id: str, customer_id: str) -> Order:
        oid = normalize_order_id(order_id)
        return Order.from_json(await self._call("POST", f"/orders/{oid}/cancel", json={"customer_id": customer_id}))

    async def change_address(self, order_id: str, customer_id: str, address: str, phone: str | None) -> Order:
        oid = normalize_order_id(order_id)
        body = {"customer_id": customer_id, "address": address, "phone": phone}
        return Order.from_json(await self._call("POST", f"/orders/{oid}/address", json=body))

    async def request_return(self, order_id: str, customer_id: str, reason: str) -> str:
        oid = normalize_order_id(order_id)
        data = await self._call("POST", f"/orders/{oid}/returns", json={"customer_id": customer_id, "reason": reason})
        return str(data["return_id"])

    async def aclose(self) -> None:
        await self._client.aclose()
