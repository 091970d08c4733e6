"""What every Starlette service of the platform shares: authentication, the error → HTTP map, bodies.

``endpoint(handler, roles=...)`` wraps a handler ``async (request, principal) -> dict | Response``: the bearer
token is verified (401), revoked tokens refused (401), the role checked (403), the caller rate-limited (429),
and domain errors mapped to one status each, with a one-line JSON error and never a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.errors import (
    Conflict,
    ContentBlocked,
    CsbotError,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
)
from bot.security import (
    SERVICE,
    STAFF,
    AuthError,
    Keyring,
    PermissionDenied,
    Principal,
    bearer_token,
    verify_token,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request, Principal], Awaitable[Any]]
MAX_JSON_BYTES = 256 * 1024

# one place: domain error → HTTP status (first match wins; subclasses before their bases)
STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (AuthError, 401),
    (PermissionDenied, 403),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (RateLimited, 429),
    (ContentBlocked, 422),
    (InvalidInput, 400),
    (json.JSONDecodeError, 400),
    (UnicodeDecodeError, 400),
    (ValueError, 400),
    (CsbotError, 400),
)


def status_of(exc: BaseException) -> int | None:
    if _backend_unavailable(exc):
        return 503
    return next((code for kind, code in STATUS if isinstance(exc, kind)), None)


def _backend_unavailable(exc: BaseException) -> bool:
    """The database or Redis briefly away: a 503 the caller may retry, not a 500 (nothing was half-written:
    the unit of work rolled back)."""
    kind = type(exc)
    names = {f"{k.__module__}.{k.__qualname__}" for k in kind.__mro__}
    return bool(names & {"sqlalchemy.exc.OperationalError", "sqlalchemy.exc.DisconnectionError",
                         "sqlalchemy.exc.TimeoutError", "redis.exceptions.ConnectionError",
                         "redis.exceptions.TimeoutError"})  # fmt: skip


def error_response(exc: BaseException) -> JSONResponse:
    code = status_of(exc) or 500
    headers = {}
    if code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    if code == 503:
        headers["Retry-After"] = "2"
    message = {500: "internal error", 503: "temporarily unavailable; try again in a moment"}.get(code, str(exc))
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        message = "body must be JSON (UTF-8)"
    return JSONResponse({"error": message}, code, headers=headers)


@dataclass
class Auth:
    """Verifies a request's bearer token against the platform keys and the revocation list."""

    keys: Keyring
    is_revoked: Callable[[str], bool] = lambda jti: False

    def principal(self, request: Request, audience: str = STAFF) -> Principal:
        p = verify_token(self.keys, bearer_token(request.headers.get("authorization")), audience)
        # people log out; a process's short-lived service token is never revoked, so it costs no lookup
        if audience != SERVICE and p.token_id and self.is_revoked(p.token_id):
            raise AuthError("token revoked")
        return p


Limiter = Callable[[Request, Principal], Awaitable[None]]


def per_user_limit(limiter: Any, rate: Any) -> Limiter:
    """A ``limit`` for ``endpoint``: each user's calls across the service (seed §2 Gateway 限流)."""

    async def check(request: Request, who: Principal) -> None:
        d = await limiter.hit(f"user:{who.tenant_id}:{who.user_id}", rate)
        if not d.allowed:
            raise RateLimited("too many requests; slow down", d.retry_after)

    return check


def endpoint(handler: Handler, auth: Auth, roles: Iterable[str], audience: str = STAFF,
             limit: Limiter | None = None) -> Callable[[Request], Awaitable[Response]]:  # fmt: skip
    needed = tuple(roles)

    async def handle(request: Request) -> Response:
        try:
            principal = auth.principal(request, audience)
            principal.require(*needed)
            if limit is not None:
                await limit(request, principal)
            result = await handler(request, principal)
        except Exception as exc:  # mapped below; anything unmapped is a 500 without details
            if status_of(exc) is None:
                log.exception("unhandled error in %s %s", request.method, request.url.path)
            return error_response(exc)
        return result if isinstance(result, Response) else JSONResponse(result)

    return handle


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body, refused with 413 past ``max_bytes`` (checked before and while reading)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, max_bytes: int = MAX_JSON_BYTES, empty_ok: bool = True) -> dict[str, Any]:
    """A JSON object body: 415 for another content type, 413 too large, 400 malformed or not an object."""
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        if empty_ok:
            return {}
        raise InvalidInput("a JSON object body is required")
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedMediaType("content type must be application/json")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict):
        raise InvalidInput("expected a JSON object")
    return data
