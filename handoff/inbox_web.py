"""The agent inbox page, served by the handoff service beside the API it calls (same origin: no CORS, no CDN,
no build step). ``/inbox`` is the page; its script and styles are under ``/inbox/static/``. The page holds no
data of its own: everything comes from ``/api/auth`` and ``/api/agent`` with the agent's token."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WEB = Path(__file__).parent / "web"
FILES = {"inbox.js": "application/javascript; charset=utf-8", "inbox.css": "text/css; charset=utf-8"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")  # fmt: skip


def _headers(kind: str) -> dict[str, str]:
    return {"Content-Type": kind, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


async def page(request: Request) -> Response:
    headers = {**_headers("text/html; charset=utf-8"), "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}
    return Response((WEB / "inbox.html").read_bytes(), headers=headers)


async def static(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in FILES:
        return JSONResponse({"error": "not found"}, status_code=404)
    return Response((WEB / name).read_bytes(), headers=_headers(FILES[name]))


def routes() -> list[Route]:
    return [Route("/inbox", page), Route("/inbox/static/{name}", static)]
