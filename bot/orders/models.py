"""Order domain objects as the actions see them (a view of the shop's order API)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Order states of the demo/shop API and how we say them to a customer.
STATUS_TEXT = {
    "pending_payment": "待付款",
    "paid": "已付款，等待发货",
    "shipped": "已发货",
    "delivered": "已签收",
    "cancelled": "已取消",
    "returning": "退货处理中",
    "refunded": "已退款",
}


@dataclass(frozen=True)
class OrderItem:
    name: str
    qty: int
    price: float


@dataclass(frozen=True)
class TrackingEvent:
    time: str
    text: str


@dataclass(frozen=True)
class Order:
    order_id: str
    customer_id: str
    status: str
    created_at: str
    total: float
    items: tuple[OrderItem, ...] = ()
    courier: str | None = None
    tracking_no: str | None = None
    tracking: tuple[TrackingEvent, ...] = field(default=())
    address: str | None = None

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)

    @property
    def summary(self) -> str:
        names = "、".join(i.name for i in self.items[:2]) + ("等" if len(self.items) > 2 else "")
        return names or "商品"

    @classmethod
    def from_json(cls, d: dict) -> Order:
        return cls(
            order_id=str(d["order_id"]),
            customer_id=str(d["customer_id"]),
            status=str(d["status"]),
            created_at=str(d.get("created_at", "")),
            total=float(d.get("total", 0)),
            items=tuple(
                OrderItem(i["name"], int(i.get("qty", 1)), float(i.get("price", 0))) for i in d.get("items", [])
            ),
            courier=d.get("courier"),
            tracking_no=d.get("tracking_no"),
            tracking=tuple(TrackingEvent(t["time"], t["text"]) for t in d.get("tracking", [])),
            address=d.get("address"),
        )
