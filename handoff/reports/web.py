"""The supervisors' report page, served like the inbox (same origin, no CDN, no build step): ``/reports`` is the
page, its script and styles are under ``/reports/static/``. It holds no data: it calls ``/api/agent/reports``
with the token the inbox keeps in this tab (or logs in itself)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handoff.inbox_web import CSP, WEB

FILES = {"reports.js": "application/javascript; charset=utf-8", "reports.css": "text/css; charset=utf-8"}


def _headers(kind: str) -> dict[str, str]:
    return {"Content-Type": kind, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


async def page(request: Request) -> Response:
    headers = {**_headers("text/html; charset=utf-8"), "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}
    return Response((WEB / "reports.html").read_bytes(), headers=headers)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in FILES:
        return JSONResponse({"error": "not found"}, status_code=404)
    return Response((WEB / name).read_bytes(), headers=_headers(FILES[name]))


def routes() -> list[Route]:
    return [Route("/reports", page), Route("/reports/static/{name}", static)]
