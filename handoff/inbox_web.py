"""The agent inbox page, served by the handoff service beside the API it calls (same origin: no CORS, no CDN,
no build step). ``/inbox`` is the page; its script and styles are under ``/inbox/static/``. The page holds no
data of its own: everything comes from ``/api/auth`` and ``/api/agent`` with the agent's token."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WEB = Path(__file__).parent / "web"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")  # fmt: skip


def _headers(kind: str) -> dict[str, str]:
    return {"Content-Type": kind, "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def page_routes(path: str, name: str) -> list[Route]:
    """A page at ``path`` (``web/<name>.html``) and its script and styles (``<name>.js``, ``<name>.css``) under
    ``path/static/``: the inbox and every page beside it (search, tickets, reports) are served this one way."""
    files = {f"{name}.js": "application/javascript; charset=utf-8", f"{name}.css": "text/css; charset=utf-8"}
    html = {**_headers("text/html; charset=utf-8"), "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}

    async def page(request: Request) -> Response:
        return Response((WEB / f"{name}.html").read_bytes(), headers=html)

    async def static(request: Request) -> Response:
        file = request.path_params["name"]
        if file not in files:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response((WEB / file).read_bytes(), headers=_headers(files[file]))

    return [Route(path, page), Route(f"{path}/static/{{name}}", static)]


def routes() -> list[Route]:
    return page_routes("/inbox", "inbox")
