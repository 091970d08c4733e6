"""Whose data a privacy request is about: a tenant, the customer as the shop knows them, and their conversations.

Conversation ids (``channels.gateway``): a logged-in customer's is ``tenant:customer`` (derived from a token the
shop signed; WeChat's are ``tenant:wx-<openid>`` and ``tenant:kf-<id>``); an anonymous visitor's is the id the
visitor's client chose, never containing ``:``, and belongs to the default tenant. The records of both carry the
customer ref (``customer_ref``): the shop's customer id, or for a visitor the conversation id itself.

So a request names either a conversation id (``default:u1001``) or a customer ref (``u1001``). A ref covers every
conversation of the tenant whose records carry it: ``tenant:u1001`` and, in the default tenant, a visitor
conversation someone opened under the id ``u1001`` (an anonymous visitor is known by nothing else; the report
marks such conversations ``anonymous``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from bot.errors import InvalidInput
from bot.tenants import check_tenant

_ID = re.compile(r"^[A-Za-z0-9_.@:-]{1,128}$")  # what a conversation id or customer ref may contain


def owner_of(conversation_id: str, default_tenant: str) -> str:
    """The tenant a conversation id belongs to, by how the channels build them."""
    tenant, sep, customer = conversation_id.partition(":")
    return tenant if sep and tenant and customer else default_tenant


def customer_of(conversation_id: str) -> str:
    """The customer ref the records of a conversation carry."""
    tenant, sep, customer = conversation_id.partition(":")
    return customer if sep and tenant and customer else conversation_id


@dataclass(frozen=True)
class Subject:
    tenant: str
    default_tenant: str
    customer: str | None  # the customer ref asked about; None: a retention purge of ``conversations``
    conversations: frozenset[str] = frozenset()
    by_ref: bool = False  # True: every record carrying ``customer`` as its ref too (a plain customer id was asked)
    files: frozenset[str] = field(default=frozenset())  # file keys their records mention (filled before erasing)

    @property
    def refs(self) -> frozenset[str]:
        """Customer refs whose own rows (``cs_user``) belong to the subject."""
        if self.customer is not None:
            return frozenset({self.customer})
        return frozenset(customer_of(c) for c in self.conversations)

    def owned(self) -> frozenset[str]:
        """Conversations provably of this tenant by their id: the only ones a store without a tenant column
        (Rasa's ``events``, Redis keys) may touch."""
        return frozenset(c for c in self.conversations if owner_of(c, self.default_tenant) == self.tenant)

    def anonymous(self, conversation_id: str) -> bool:
        return ":" not in conversation_id

    def with_conversations(self, more: Iterable[str]) -> Subject:
        return replace(self, conversations=self.conversations | frozenset(more))


def subject_of(customer: str, tenant: str | None, default_tenant: str) -> Subject:
    """The subject a request names: ``tenant:customer`` (a conversation id) or a customer ref in ``tenant``
    (default: the default tenant). A conversation id of another tenant than the one asked is refused."""
    customer = (customer or "").strip()
    if not _ID.match(customer):
        raise InvalidInput("customer must be 1-128 letters, digits or _.@:- (a customer id or a conversation id)")
    prefix, sep, rest = customer.partition(":")
    if sep:
        if not prefix or not rest or ":" in rest:
            raise InvalidInput("a conversation id looks like tenant:customer")
        if tenant and tenant != prefix:
            raise InvalidInput(f"conversation {customer} is not of tenant {tenant}")
        check_tenant(prefix)
        return Subject(prefix, default_tenant, rest, frozenset({customer}))  # that conversation only
    home = check_tenant(tenant or default_tenant)
    conversations = {f"{home}:{customer}"}
    if home == default_tenant:
        conversations.add(customer)  # a visitor conversation under that id
    return Subject(home, default_tenant, customer, frozenset(conversations), by_ref=True)


def conversation_subject(tenant: str, conversation_id: str, default_tenant: str) -> Subject:
    """One conversation, as the retention purge removes it."""
    return Subject(check_tenant(tenant), default_tenant, None, frozenset({conversation_id}))
