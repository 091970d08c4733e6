"""The web chat's session token: which conversation a browser may join, signed by the platform.

Rasa 3.6's socket.io channel lets anyone who sends ``session_request`` with a session id join that room and
read the conversation. Here the server picks the conversation — derived from a shop-signed customer token, or
a fresh random id for an anonymous visitor — and hands the browser a token that names it. A browser resumes a
conversation only by showing that token again; a bare session id gets a new, empty conversation.

Pure functions on stdlib + PyJWT: imported by the channel (Rasa's Python 3.10) and by tests (3.11).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from bot.identity import Customer, anonymous

AUDIENCE = "csbot-widget"
ANONYMOUS_DAYS = 30  # a visitor coming back within a month finds their conversation


@dataclass(frozen=True)
class WidgetSession:
    conversation_id: str
    customer: Customer
    expires_at: float


def new_anonymous(tenant_id: str, now: float | None = None) -> WidgetSession:
    now = time.time() if now is None else now
    return WidgetSession("w-" + secrets.token_hex(12), anonymous(tenant_id), now + ANONYMOUS_DAYS * 86400)


def for_customer(customer: Customer, customer_expires_at: float) -> WidgetSession:
    """An identified customer's conversation: derived from the shop's token, valid no longer than it."""
    return WidgetSession(customer.conversation_id(), customer, customer_expires_at)


def mint(session: WidgetSession, secret: str) -> str:
    c = session.customer
    claims: dict[str, Any] = {"aud": AUDIENCE, "sid": session.conversation_id, "tid": c.tenant_id,
                              "exp": int(session.expires_at), "by": c.verified_by}  # fmt: skip
    if c.customer_id is not None:
        claims["sub"] = c.customer_id
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(token: Any, secret: str, now: float | None = None) -> WidgetSession | None:
    """The session a token names, or None for anything that is not a valid, unexpired token of ours."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE,
                            options={"require": ["exp", "sid", "tid"], "verify_exp": False})  # fmt: skip
    except jwt.PyJWTError:
        return None
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= (time.time() if now is None else now):
        return None
    sid, tid, sub = claims.get("sid"), claims.get("tid"), claims.get("sub")
    if not isinstance(sid, str) or not isinstance(tid, str) or (sub is not None and not isinstance(sub, str)):
        return None
    customer = Customer(tid, sub, str(claims.get("by") or "anonymous")) if sub else anonymous(tid)
    return WidgetSession(sid, customer, float(claims["exp"]))


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """A browser's Origin: the platform's own pages (same host), or a shop site on the allow-list ("*" allows
    any). No Origin header at all is not a browser (a server or an app), which Origin cannot protect anyway."""
    if not origin:
        return True
    if "*" in allowed:
        return True
    origin = origin.rstrip("/").lower()
    if host and origin.split("://", 1)[-1] == host.lower():
        return True
    return origin in {a.rstrip("/").lower() for a in allowed}
