"""The privacy API on the handoff service (``/api/admin/privacy``): role admin, the tenant from the token only.

* ``GET /customers/{customer}`` — everything the platform holds of the customer (a customer id or a
  conversation id), decrypted: 200 JSON, 404 when nothing is held.
* ``DELETE /customers/{customer}`` — erase it from every store: 200 with what each store removed; 404 when there
  was nothing (an erase run again is a 404 too); 409 while a handoff session of theirs is open; 503 when a store
  failed half-way (the body says which; run the same request again).

Both are audited with counts only. A conversation id of another tenant is a 404, as an unknown customer is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.errors import NotFound
from bot.privacy.service import Actor, PrivacyService
from bot.privacy.subject import Subject, subject_of
from bot.security import Principal
from bot.web import Auth, Limiter, endpoint

ADMIN = ("admin",)


def _subject(svc_default_tenant: str, request: Request, who: Principal) -> Subject:
    customer = request.path_params["customer"]
    prefix, sep, _ = customer.partition(":")
    if sep and prefix != who.tenant_id:
        raise NotFound(f"nothing found for {customer}")  # another tenant's conversation: as if unknown
    return subject_of(customer, who.tenant_id, svc_default_tenant)


def _actor(who: Principal) -> Actor:
    return Actor(",".join(sorted(who.roles))[:64], who.user_id)


def routes(svc: PrivacyService, default_tenant: str, auth: Auth, limit: Limiter | None) -> list[Route]:
    async def export(request: Request, who: Principal) -> Any:
        subject = _subject(default_tenant, request, who)
        data = await asyncio.to_thread(svc.export, subject, _actor(who))
        if data is None:
            raise NotFound(f"nothing found for customer {subject.customer} in this tenant")
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    async def erase(request: Request, who: Principal) -> Any:
        subject = _subject(default_tenant, request, who)
        report = await asyncio.to_thread(svc.erase, subject, _actor(who))
        if not report.found:
            raise NotFound(f"nothing found for customer {subject.customer} in this tenant")
        return JSONResponse(report.to_json(), status_code=200 if report.complete else 503)

    return [
        Route("/customers/{customer}", endpoint(export, auth, ADMIN, limit=limit), methods=["GET"]),
        Route("/customers/{customer}", endpoint(erase, auth, ADMIN, limit=limit), methods=["DELETE"]),
    ]
