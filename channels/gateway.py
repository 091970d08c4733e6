"""What every customer channel does before Rasa sees a message (seed §2 Gateway: 鉴权, 限流).

* **Who**: a customer token the shop signed (``Authorization: Bearer …``) makes an identified customer whose
  conversation id is derived from the token; without one, an anonymous visitor of the default tenant whose
  sender id may not contain ":" (reserved for identified conversations, so nobody can name one).
* **Sealed**: the identity reaches the actions sealed into the message metadata (``bot.identity.seal``);
  whatever identity the client put in its metadata is dropped.
* **How often**: per conversation and per client IP (``rate_limit`` settings; in-process by default, Redis
  when several Rasa instances share the load). A limited customer gets a polite line, not an error page.
* **What**: the content-safety filter (``safety`` settings, ``bot.safety.screen``): a refused line gets a polite
  line and never reaches the NLU; a masked word goes on as ＊.

Runs inside the Rasa server (Python 3.10): only bot modules that run there (settings, identity, ratelimit, safety).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.identity import Customer, IdentityError, ShopKeys, anonymous, seal, seal_secret, strip_claims
from bot.ratelimit import Decision, Rate, RateLimiter, create_rate_limiter
from bot.safety.screen import Screen, Screened
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)

# what a conversation id may contain: it travels in Rasa API paths that are not percent-decoded
SENDER_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")
SLOW_DOWN = "您发消息太快啦，歇一口气，{seconds} 秒后再发给我吧～"
DEFAULT_RATES = {"per_conversation": "20/10s", "per_ip": "300/min", "per_poll": "150/min"}


@dataclass
class Gateway:
    settings: Settings
    shops: ShopKeys
    limiter: RateLimiter
    per_conversation: Rate
    per_ip: Rate
    per_poll: Rate  # a REST app asking for new lines (agent messages): its own bucket, not the messages'
    safety: Screen | None = None  # None: lines are not checked (a gateway built by hand in a test)
    trusted_proxies: int = 0  # load balancers in front that append X-Forwarded-For (rate_limit.trusted_proxies)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, overrides: dict[str, Any] | None = None) -> Gateway:
        settings = settings or load_settings()
        backend = settings.backend("rate_limit")
        rates = {k: str((overrides or {}).get(k) or backend.get(k) or v) for k, v in DEFAULT_RATES.items()}
        return cls(settings, ShopKeys.from_settings(settings), create_rate_limiter(backend),
                   Rate.parse(rates["per_conversation"]), Rate.parse(rates["per_ip"]),
                   Rate.parse(rates["per_poll"]), Screen.from_settings(settings),
                   int(backend.get("trusted_proxies") or 0))  # fmt: skip

    def client_ip(self, peer: str | None, forwarded_for: str | None) -> str | None:
        return client_ip(peer, forwarded_for, self.trusted_proxies)

    def identify(self, authorization: str | None, sender: str) -> tuple[Customer, str]:
        """(customer, conversation id). IdentityError for a token that does not verify; ValueError for an
        anonymous sender id that tries to look like an identified conversation."""
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise IdentityError("Authorization must be 'Bearer <customer token>'")
            customer = self.shops.verify(token.strip())
            return customer, customer.conversation_id()
        if ":" in sender:
            raise ValueError("sender must not contain ':' (reserved for logged-in customers' conversations)")
        if not SENDER_RE.match(sender):
            raise ValueError("sender must be 1-128 letters, digits or _.@-")
        return anonymous(self.settings.default_tenant), sender

    def metadata(self, customer: Customer, conversation_id: str, client: Any) -> dict[str, Any]:
        """The client's metadata without identity claims, plus the sealed identity for the actions."""
        out = strip_claims(client)
        out.pop("file", None)  # a file rides along only when the channel checked its link (channels.socketio)
        out["csbot_identity"] = seal(customer, conversation_id, seal_secret(self.settings))
        return out

    async def screen(self, customer: Customer, conversation_id: str, text: str) -> Screened:
        """The line to pass on to the NLU, or (``refusal``) the polite line to answer instead."""
        if self.safety is None:
            return Screened(text)
        return await self.safety.screen(customer.tenant_id, conversation_id, text)

    async def admit(self, conversation_id: str, ip: str | None) -> Decision:
        """Both limits; the stricter refusal wins."""
        by_conv = await self.limiter.hit(f"conv:{conversation_id}", self.per_conversation)
        by_ip = await self.limiter.hit(f"ip:{ip or '-'}", self.per_ip)
        if by_conv.allowed and by_ip.allowed:
            return by_conv
        refused = [d for d in (by_conv, by_ip) if not d.allowed]
        return max(refused, key=lambda d: d.retry_after)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: int) -> str | None:
    """Whose address a per-IP limit counts. Behind ``proxies`` trusted balancers every customer arrives from a
    balancer's address, so the address the outermost trusted one saw is taken from ``X-Forwarded-For``, counted
    from the right: entries further left are whatever the client chose to send, and never trusted."""
    if proxies <= 0 or not forwarded_for:
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if not hops:
        return peer
    return hops[-proxies] if len(hops) >= proxies else hops[0]


async def admit_poll(gateway: Gateway, conversation_id: str) -> Decision:
    return await gateway.limiter.hit(f"poll:{conversation_id}", gateway.per_poll)


def slow_down_text(decision: Decision) -> str:
    return SLOW_DOWN.format(seconds=max(1, round(decision.retry_after)))
