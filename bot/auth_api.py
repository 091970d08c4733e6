"""Staff log-in for every console of the platform (agent inbox, KB admin): ``/api/auth/...``.

* ``POST /login {"tenant"?, "login", "password"}`` → ``{"token", "expires_at", "user"}`` (401 with the same
  words for a wrong login or password; 10 tries a minute per login and per IP, then 429)
* ``POST /refresh`` → a new token; the old one is revoked
* ``POST /logout`` → 204; the token is revoked on every service
* ``GET /me`` → who the token belongs to
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.errors import InvalidInput, RateLimited
from bot.ratelimit import Rate, RateLimiter
from bot.security import STAFF, AuthError, Principal, issue_token
from bot.settings import Settings
from bot.users import StaffUser, UserService
from bot.web import Auth, endpoint, error_response, json_body

LOGIN_RATE = Rate.parse("10/min")


def _token(settings: Settings, user: StaffUser) -> dict[str, Any]:
    ttl = settings.jwt_ttl_minutes * 60
    who = user.principal()
    token = issue_token(settings.keyring, who, ttl, audience=STAFF)
    about = {"id": str(user.user_id), "tenant": user.tenant_id, "login": user.login, "name": user.name,
             "roles": sorted(user.roles), "skills": list(user.skills)}  # fmt: skip
    return {"token": token, "expires_in": ttl, "user": about}


def routes(settings: Settings, users: UserService, auth: Auth, limiter: RateLimiter,
           per_user: Callable[[Request, Principal], Awaitable[None]] | None = None) -> list[Route]:  # fmt: skip
    async def login(request: Request) -> Response:
        try:
            body = await json_body(request, 4096, empty_ok=False)
            tenant = str(body.get("tenant") or settings.default_tenant)
            name, password = body.get("login"), body.get("password")
            if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
                raise InvalidInput('expected {"login": "...", "password": "..."}')
            for key in (f"login:{tenant}:{name[:64]}", f"login-ip:{request.client.host if request.client else '-'}"):
                d = await limiter.hit(key, LOGIN_RATE)
                if not d.allowed:
                    raise RateLimited("too many log-in attempts; try again later", d.retry_after)
            user = await asyncio.to_thread(users.authenticate, tenant, name, password)
        except Exception as exc:
            return error_response(exc)
        return JSONResponse(_token(settings, user))

    async def refresh(request: Request, who: Principal) -> Any:
        user = await asyncio.to_thread(users.get, who.tenant_id, who.user_id)
        if not user.active:
            raise AuthError("account disabled")
        await asyncio.to_thread(users.revoke, who)
        return _token(settings, user)

    async def logout(request: Request, who: Principal) -> Response:
        await asyncio.to_thread(users.revoke, who)
        return Response(status_code=204)

    async def me(request: Request, who: Principal) -> Any:
        return {"id": str(who.user_id), "tenant": who.tenant_id, "name": who.name, "roles": sorted(who.roles),
                "expires_at": who.expires_at}  # fmt: skip

    staff = ("agent", "supervisor", "kb_admin")
    return [
        Route("/login", login, methods=["POST"]),
        Route("/refresh", endpoint(refresh, auth, staff, limit=per_user), methods=["POST"]),
        Route("/logout", endpoint(logout, auth, staff, limit=per_user), methods=["POST"]),
        Route("/me", endpoint(me, auth, staff, limit=per_user), methods=["GET"]),
    ]
