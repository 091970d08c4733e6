"""The supervisors' report page, served like the inbox (same origin, no CDN, no build step): ``/reports`` is the
page, its script and styles are under ``/reports/static/``. It holds no data: it calls ``/api/agent/reports``
with the token the inbox keeps in this tab (or logs in itself)."""

from __future__ import annotations

from starlette.routing import Route

from handoff.inbox_web import page_routes


def routes() -> list[Route]:
    return page_routes("/reports", "reports")
