"""``GET /api/agent/reports`` (JSON) and ``GET /api/agent/reports.csv`` (Excel-ready CSV), mounted with the
agent API: role supervisor (admin holds every role). The tenant is the token's; only an admin may name another
(``?tenant=``), since an admin token serves the whole platform.

Query: ``from``, ``to`` (the shop's dates, inclusive, at most 366 days), ``by`` = day | agent | category."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import Forbidden, InvalidInput
from bot.security import Principal
from bot.storage.db import Database
from bot.web import Auth, Limiter, endpoint
from handoff.reports.export import filename, to_csv
from handoff.reports.metrics import BY, Report
from handoff.reports.periods import parse_period
from handoff.reports.service import report

ROLES = ("supervisor",)


def routes(db: Database, timezone: str, auth: Auth, limit: Limiter | None,
           clock: Callable[[], float]) -> list[Route]:  # fmt: skip
    async def run(request: Request, who: Principal) -> Report:
        q = request.query_params
        by = q.get("by") or "day"
        if by not in BY:
            raise InvalidInput(f"by must be one of {', '.join(BY)}")
        tenant = q.get("tenant") or who.tenant_id
        if tenant != who.tenant_id and "admin" not in who.roles:
            raise Forbidden("only an admin may ask for another tenant's report")
        if len(tenant) > 64:
            raise InvalidInput("tenant: at most 64 characters")
        period = parse_period(q.get("from"), q.get("to"), timezone)
        return await asyncio.to_thread(report, db, tenant, period, by, clock())

    async def as_json(request: Request, who: Principal) -> Any:
        return (await run(request, who)).to_json()

    async def as_csv(request: Request, who: Principal) -> Response:
        r = await run(request, who)
        return Response(to_csv(r), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename(r)}"',
                                 "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})  # fmt: skip

    return [
        Route("/reports", endpoint(as_json, auth, ROLES, limit=limit), methods=["GET"]),
        Route("/reports.csv", endpoint(as_csv, auth, ROLES, limit=limit), methods=["GET"]),
    ]
