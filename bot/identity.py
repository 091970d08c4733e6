"""Who the customer is, from something verified only: a JWT the shop signs, or a channel's verified webhook.

The shop's website or app already knows who is logged in; it signs a short JWT for the chat (``sub`` the
shop's customer id, ``tid`` the tenant, ``aud`` "csbot", ``exp`` required) with the secret or private key of
its tenant (``identity.tenants.<tid>``: ``secret`` for HS256, or ``public_key``/``public_key_file`` for
RS256/ES256). A channel verifies it, then hands the actions a *sealed* identity: an HS256 JWT of the platform
bound to the conversation id, so nothing a client puts in message metadata (Rasa's socket.io channel passes
it straight through) can name a customer. No token: an anonymous visitor of the channel's tenant, who can
chat and ask policy questions but sees no order.

Imported by channels in the Rasa server (Python 3.10, rasa's pins) and by the action server (3.11): stdlib
and PyJWT only.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from bot.errors import ConfigError, CsbotError

AUDIENCE = "csbot"  # what a shop's customer token must name
SEAL_AUDIENCE = "csbot-identity"
SEAL_SECONDS = 600
METADATA_KEY = "csbot_identity"
# keys a client could send in metadata to claim an identity; channels drop them
CLAIM_KEYS = ("customer_id", "tenant_id", "user_id", METADATA_KEY)
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class IdentityError(CsbotError):
    """A customer token that does not verify (HTTP 401 on the channel)."""


@dataclass(frozen=True)
class Customer:
    tenant_id: str
    customer_id: str | None  # None: an anonymous visitor
    verified_by: str  # shop_jwt | wechat | anonymous
    name: str = ""

    @property
    def identified(self) -> bool:
        return self.customer_id is not None

    def conversation_id(self) -> str:
        """The Rasa conversation of an identified customer: derived, never chosen by the client."""
        assert self.customer_id is not None
        return f"{self.tenant_id}:{self.customer_id}"


def anonymous(tenant_id: str) -> Customer:
    return Customer(tenant_id, None, "anonymous")


@dataclass(frozen=True)
class ShopKey:
    tenant_id: str
    key: str
    algorithms: tuple[str, ...]
    issuer: str | None = None


class ShopKeys:
    """Each tenant's key for verifying the customer tokens its shop signs."""

    def __init__(self, keys: Mapping[str, ShopKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_settings(cls, settings: Any) -> ShopKeys:
        tenants = settings.raw["identity"].get("tenants") or {}
        if not isinstance(tenants, Mapping):
            raise ConfigError("identity.tenants", "a mapping of tenant id → {secret | public_key_file}")
        keys = {str(t): _shop_key(str(t), conf) for t, conf in tenants.items()}
        if settings.default_tenant not in keys:
            # embedded default: the demo shop of this home signs with a secret derived from the home's own
            keys[settings.default_tenant] = ShopKey(settings.default_tenant, demo_shop_secret(settings), ("HS256",))
        return cls(keys)

    def verify(self, token: str, now: float | None = None) -> Customer:
        """The customer a shop token names; IdentityError if it does not verify with its tenant's key."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise IdentityError("customer token is not a JWT") from None
        tenant = str(unverified.get("tid") or "")
        shop = self._keys.get(tenant)
        if shop is None:
            raise IdentityError("customer token names an unknown tenant")
        try:
            claims = jwt.decode(token, shop.key, algorithms=list(shop.algorithms), audience=AUDIENCE,
                                issuer=shop.issuer, options={"require": ["exp", "sub", "tid", "aud"]},
                                leeway=5)  # fmt: skip
        except jwt.ExpiredSignatureError:
            raise IdentityError("customer token expired") from None
        except jwt.PyJWTError:
            raise IdentityError("customer token does not verify") from None
        sub = str(claims["sub"])
        if not _SAFE_ID.match(sub):
            raise IdentityError("customer id must be 1-64 letters, digits or _.@-")
        return Customer(tenant, sub, "shop_jwt", str(claims.get("name") or "")[:64])


def _shop_key(tenant: str, conf: Any) -> ShopKey:
    where = f"identity.tenants.{tenant}"
    if not isinstance(conf, Mapping):
        raise ConfigError(where, "a mapping with secret, public_key or public_key_file")
    issuer = conf.get("issuer")
    if conf.get("secret"):
        secret = str(conf["secret"])
        if len(secret) < 16:
            raise ConfigError(f"{where}.secret", "a string of at least 16 characters")
        return ShopKey(tenant, secret, ("HS256",), issuer)
    pem = conf.get("public_key")
    if not pem and conf.get("public_key_file"):
        try:
            pem = Path(str(conf["public_key_file"])).read_text()
        except OSError:
            raise ConfigError(f"{where}.public_key_file", "a readable PEM file", conf["public_key_file"]) from None
    if not pem:
        raise ConfigError(where, "secret, public_key or public_key_file")
    algorithm = str(conf.get("algorithm") or "RS256")
    if algorithm not in ("RS256", "ES256"):
        raise ConfigError(f"{where}.algorithm", "RS256 or ES256", algorithm)
    return ShopKey(tenant, str(pem), (algorithm,), issuer)


def customer_token(settings: Any, customer_id: str, tenant_id: str | None = None, minutes: float = 60) -> str:
    """A customer token as the tenant's shop would sign it: for the demo shop, the terminal chat and tests.
    Only for a tenant verified by a shared secret: with a public key only the shop can sign."""
    tenant = tenant_id or settings.default_tenant
    conf = (settings.raw["identity"].get("tenants") or {}).get(tenant)
    if conf is None and tenant == settings.default_tenant:
        secret = demo_shop_secret(settings)
    elif isinstance(conf, Mapping) and conf.get("secret"):
        secret = str(conf["secret"])
    else:
        raise CsbotError(f"tenant {tenant}'s shop signs its customer tokens with its own private key")
    return shop_token(secret, tenant, customer_id, minutes)


def demo_shop_secret(settings: Any) -> str:
    from bot.settings import home_secret

    return home_secret(settings, f"shop:{settings.default_tenant}")


def shop_token(secret: str, tenant_id: str, customer_id: str, minutes: float = 60, name: str = "") -> str:
    """What a shop's login signs for its chat widget (the demo shop and the tests use it)."""
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": customer_id, "tid": tenant_id, "aud": AUDIENCE, "iat": now,
              "exp": now + dt.timedelta(minutes=minutes)}  # fmt: skip
    if name:
        claims["name"] = name
    return jwt.encode(claims, secret, algorithm="HS256")


# --- the sealed identity a channel hands the actions ---------------------------------------------

def seal(customer: Customer, conversation_id: str, secret: str, seconds: int = SEAL_SECONDS) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    claims = {"sub": customer.customer_id or "", "tid": customer.tenant_id, "by": customer.verified_by,
              "conv": conversation_id, "name": customer.name, "aud": SEAL_AUDIENCE, "iat": now,
              "exp": now + dt.timedelta(seconds=seconds)}  # fmt: skip
    return jwt.encode(claims, secret, algorithm="HS256")


def unseal(metadata: Mapping[str, Any] | None, conversation_id: str, secret: str) -> Customer | None:
    """The customer a channel sealed for this conversation, or None (missing, forged, expired, or another
    conversation's)."""
    token = (metadata or {}).get(METADATA_KEY)
    if not isinstance(token, str):
        return None
    try:
        c = jwt.decode(token, secret, algorithms=["HS256"], audience=SEAL_AUDIENCE,
                       options={"require": ["exp", "tid", "conv"]})  # fmt: skip
    except jwt.PyJWTError:
        return None
    if c.get("conv") != conversation_id:
        return None
    return Customer(str(c["tid"]), str(c["sub"]) or None, str(c.get("by") or "anonymous"), str(c.get("name") or ""))


def seal_secret(settings: Any) -> str:
    from bot.settings import home_secret

    return home_secret(settings, "identity-seal")


def strip_claims(metadata: Any) -> dict[str, Any]:
    """Client metadata without anything that looks like an identity claim."""
    if not isinstance(metadata, Mapping):
        return {}
    return {k: v for k, v in metadata.items() if k not in CLAIM_KEYS}
