"""Platform tokens (JWT), roles, password hashing and PII masking for logs.

Roles: ``agent`` (handoff inbox), ``supervisor`` (agents' queues, reports, transfers), ``kb_admin``
(knowledge admin, seed §2.5.8 ROLE_KB_ADMIN), ``admin`` (everything), ``service`` (one platform process
calling another's internal API). Customers never hold a platform token of these audiences: who a customer is
comes from the shop (``bot.identity``).

Every token: HS256 only (``alg`` pinned, ``none`` refused), ``exp`` required, issuer and audience checked, a
``kid`` naming the key and a ``jti`` so a logout can revoke it. Keys rotate: the current secret signs, the
previous ones (``security.jwt_previous_secrets``) still verify until they are removed.
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

ROLES = frozenset({"agent", "supervisor", "kb_admin", "admin", "service"})
STAFF = "csbot-staff"  # audience of people's tokens (agents, supervisors, KB admins)
SERVICE = "csbot-internal"  # audience of process-to-process tokens
ALGORITHM = "HS256"


class AuthError(CsbotError):
    """Missing/invalid/expired/revoked token (HTTP 401)."""


class PermissionDenied(CsbotError):
    """Valid token, wrong role (HTTP 403)."""


@dataclass(frozen=True)
class Principal:
    user_id: int
    tenant_id: str
    roles: frozenset[str]
    name: str = ""
    token_id: str = ""  # the jti, for logout
    expires_at: float = 0.0

    def require(self, *roles: str) -> None:
        """Allow if the principal holds any of ``roles`` (admin holds all)."""
        if "admin" in self.roles or self.roles.intersection(roles):
            return
        raise PermissionDenied(f"requires role {' or '.join(roles)}")


def kid(secret: str) -> str:
    """A key id that names a secret without revealing it."""
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Keyring:
    """The current signing secret and the previous ones that still verify during a rotation."""

    current: str
    previous: tuple[str, ...] = ()
    issuer: str = "csbot"

    def secret_for(self, key_id: str | None) -> list[str]:
        keys = [self.current, *self.previous]
        named = [k for k in keys if kid(k) == key_id]
        return named or keys  # a token without a known kid is tried against every live key


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def issue_token(keys: Keyring, principal: Principal, ttl_seconds: float, audience: str = STAFF,
                now: dt.datetime | None = None) -> str:  # fmt: skip
    now = now or _now()
    claims = {
        "sub": str(principal.user_id),
        "tid": principal.tenant_id,
        "roles": sorted(principal.roles),
        "name": principal.name,
        "iss": keys.issuer,
        "aud": audience,
        "iat": now,
        "exp": now + dt.timedelta(seconds=ttl_seconds),
        "jti": secrets.token_urlsafe(12),
    }
    return jwt.encode(claims, keys.current, algorithm=ALGORITHM, headers={"kid": kid(keys.current)})


def service_token(keys: Keyring, tenant_id: str, name: str, ttl_seconds: float = 3600) -> str:
    """A token for platform-internal calls (e.g. the action server asking the knowledge service), scoped to
    one tenant. Short-lived: callers hold a ``bot.tokens.ServiceTokens`` that renews it."""
    who = Principal(0, tenant_id, frozenset({"service"}), name)
    return issue_token(keys, who, ttl_seconds, audience=SERVICE)


def verify_token(keys: Keyring, token: str, audience: str = STAFF) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise AuthError("invalid token") from None
    if header.get("alg") != ALGORITHM:
        raise AuthError("invalid token")
    claims = None
    for secret in keys.secret_for(header.get("kid")):
        try:
            claims = jwt.decode(token, secret, algorithms=[ALGORITHM], issuer=keys.issuer, audience=audience,
                                options={"require": ["exp", "sub", "tid", "aud", "iss"]})  # fmt: skip
            break
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError:
            raise AuthError("invalid token") from None
    if claims is None:
        raise AuthError("invalid token")
    roles = frozenset(r for r in claims.get("roles", []) if r in ROLES)
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        raise AuthError("invalid token subject") from None
    return Principal(user_id=user_id, tenant_id=str(claims["tid"]), roles=roles, name=str(claims.get("name", "")),
                     token_id=str(claims.get("jti") or ""), expires_at=float(claims["exp"]))  # fmt: skip


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
