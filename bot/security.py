"""JWT for agent/admin APIs, role checks, password hashing and PII masking for logs.

Roles: ``agent`` (handoff inbox), ``kb_admin`` (knowledge admin, seed §2.5.8 ROLE_KB_ADMIN),
``admin`` (everything), ``service`` (one platform process calling another's internal API).
Tokens carry the tenant; every service scopes its queries by it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import jwt

from bot.errors import CsbotError

ROLES = frozenset({"agent", "kb_admin", "admin", "service"})


class AuthError(CsbotError):
    """Missing/invalid token (HTTP 401)."""


class PermissionDenied(CsbotError):
    """Valid token, wrong role (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    user_id: int
    tenant_id: str
    roles: frozenset[str]
    name: str = ""

    def require(self, *roles: str) -> None:
        """Allow if the principal holds any of ``roles`` (admin holds all)."""
        if "admin" in self.roles or self.roles.intersection(roles):
            return
        raise PermissionDenied(f"requires role {' or '.join(roles)}")


def issue_token(
    secret: str, principal: Principal, ttl_minutes: int = 480, issuer: str = "csbot", now: dt.datetime | None = None
) -> str:
    now = now or dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(principal.user_id),
        "tid": principal.tenant_id,
        "roles": sorted(principal.roles),
        "name": principal.name,
        "iss": issuer,
        "iat": now,
        "exp": now + dt.timedelta(minutes=ttl_minutes),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def service_token(secret: str, tenant_id: str, name: str, issuer: str = "csbot", ttl_minutes: int = 60 * 24) -> str:
    """A token for platform-internal calls (e.g. the action server asking the knowledge service)."""
    return issue_token(secret, Principal(0, tenant_id, frozenset({"service"}), name), ttl_minutes, issuer)


def verify_token(secret: str, token: str, issuer: str = "csbot") -> Principal:
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], issuer=issuer, options={"require": ["exp", "sub", "tid"]}
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError:
        raise AuthError("invalid token") from None
    roles = frozenset(r for r in claims.get("roles", []) if r in ROLES)
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise AuthError("invalid token subject") from None
    return Principal(user_id=user_id, tenant_id=str(claims["tid"]), roles=roles, name=str(claims.get("name", "")))


def bearer_token(header: str | None) -> str:
    if not header or not header.lower().startswith("bearer "):
        raise AuthError("missing bearer token")
    return header[7:].strip()


# --- passwords (stdlib scrypt; no extra dependency) ---------------------------------------------

def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)


# --- PII masking for logs and anything embedded or indexed (seed §2.5.8) -------------------------

_PII_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("<邮箱>", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")),
    (
        "<身份证>",
        re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"),
    ),
    ("<银行卡>", re.compile(r"(?<!\d)(?:62|4\d|5[1-5])\d{14,17}(?!\d)")),
    ("<手机号>", re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)")),
    ("<电话>", re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")),
)


def mask_pii(text: str) -> str:
    """Replace phone numbers, ID cards, bank cards, emails with placeholders (order ids are kept)."""
    for placeholder, pattern in _PII_PATTERNS:
        text = pattern.sub(placeholder, text)
    return text
