"""The customer web chat's files, served by the Rasa server beside its socket.io endpoint (same origin, so the
page needs no CORS and works offline: no CDN, no build step).

* ``/webhooks/socketio/chat``       the chat page (phone-sized first; embedded in an iframe by the snippet)
* ``/webhooks/socketio/widget.js``  the one-line snippet a shop pastes:
  ``<script src="https://<platform>/webhooks/socketio/widget.js" data-customer-token="…" async></script>``
* ``/webhooks/socketio/static/…``   the page's script and styles

The page may be framed only by the platform itself and the channel's ``allowed_origins`` (CSP
``frame-ancestors``); it runs no inline script, so injected markup cannot run either.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

if TYPE_CHECKING:
    from channels.socketio import GuardedSocketIOInput

WEB = Path(__file__).parent / "web"
TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".mp3": "audio/mpeg"}  # fmt: skip
STATIC = {"chat.js", "chat.css"}


def _headers(kind: str) -> dict[str, str]:
    return {"Content-Type": TYPES[kind], "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def page_csp(allowed_origins: list[str]) -> str:
    ancestors = " ".join(["'self'", *allowed_origins]) if "*" not in allowed_origins else "*"
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
            f"connect-src 'self' ws: wss:; frame-ancestors {ancestors}; base-uri 'none'; form-action 'none'")


def add_routes(bp: Blueprint, channel: GuardedSocketIOInput) -> None:
    @bp.route("/", methods=["GET"])
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @bp.route("/chat", methods=["GET"])
    async def chat(_: Request) -> HTTPResponse:
        headers = _headers(".html")
        headers["Content-Security-Policy"] = page_csp(channel.allowed_origins)
        headers["Referrer-Policy"] = "no-referrer"  # the customer token travels in the fragment; keep it home
        return response.raw((WEB / "chat.html").read_bytes(), headers=headers)

    @bp.route("/widget.js", methods=["GET"])
    async def snippet(_: Request) -> HTTPResponse:
        return response.raw((WEB / "widget.js").read_bytes(), headers=_headers(".js"))

    @bp.route("/static/<name>", methods=["GET"])
    async def static(_: Request, name: str) -> HTTPResponse:
        if name not in STATIC:
            return response.json({"error": "not found"}, status=404)
        return response.raw((WEB / name).read_bytes(), headers=_headers(Path(name).suffix))
