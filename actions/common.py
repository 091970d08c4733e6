"""What every action shares: who the customer is, the services they call (created once per process)."""

from __future__ import annotations

import functools
import logging

from rasa_sdk import Tracker

from actions.orders.client import HttpOrderService, OrderService
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)


@functools.cache
def settings() -> Settings:
    return load_settings()


@functools.cache
def order_service() -> OrderService:
    s = settings()
    b = s.backend("orders")
    if b.type == "demo":
        return HttpOrderService(s.services.url("orders"), timeout=float(b.get("timeout", 3.0)))
    if b.type == "http":
        return HttpOrderService(
            b.require("base_url", "the shop order API base URL"), b.get("api_key"), float(b.get("timeout", 3.0))
        )
    from importlib import import_module

    module, _, cls = b.type.rpartition(".")
    return getattr(import_module(module), cls).from_options(b.options)  # type: ignore[no-any-return]


def customer_id(tracker: Tracker) -> str:
    """The shop's customer id: the channel's metadata when it knows the login, else the conversation id."""
    meta = tracker.latest_message.get("metadata") or {}
    return str(meta.get("customer_id") or tracker.sender_id)


def tenant_id(tracker: Tracker) -> str:
    meta = tracker.latest_message.get("metadata") or {}
    return str(meta.get("tenant_id") or settings().default_tenant)


def latest_entity(tracker: Tracker, name: str) -> str | None:
    values = list(tracker.get_latest_entity_values(name))
    return str(values[-1]) if values else None
