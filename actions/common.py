"""What every action shares: who the customer is (as the channel verified it), the services they call."""

from __future__ import annotations

import functools
import logging

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.identity import Customer, anonymous, seal_secret, unseal
from bot.orders import create_order_service
from bot.orders.client import OrderService
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)


@functools.cache
def settings() -> Settings:
    return load_settings()


@functools.cache
def order_service() -> OrderService:
    return create_order_service(settings())


@functools.cache
def _seal_secret() -> str:
    return seal_secret(settings())


def customer(tracker: Tracker) -> Customer:
    """Who is chatting, as the channel verified it (``bot.identity``): a sealed identity bound to this
    conversation, or an anonymous visitor of the default tenant. Never the client's own metadata."""
    sealed = unseal(tracker.latest_message.get("metadata"), tracker.sender_id, _seal_secret())
    return sealed or anonymous(settings().default_tenant)


def customer_id(tracker: Tracker) -> str | None:
    """The shop's customer id when the channel verified one; None for an anonymous visitor."""
    return customer(tracker).customer_id


def tenant_id(tracker: Tracker) -> str:
    return customer(tracker).tenant_id


LOGIN_FIRST = "查订单、退货和改地址需要先登录哦～ 请在商城登录后再找我，规则类的问题现在就可以直接问我。"


def identified_customer(tracker: Tracker, dispatcher: CollectingDispatcher) -> str | None:
    """The customer id for an order operation; an anonymous visitor is told to log in first (None)."""
    cid = customer_id(tracker)
    if cid is None:
        dispatcher.utter_message(text=LOGIN_FIRST)
    return cid


def latest_entity(tracker: Tracker, name: str) -> str | None:
    values = list(tracker.get_latest_entity_values(name))
    return str(values[-1]) if values else None
