"""The customer web chat's files, served by the Rasa server beside its socket.io endpoint (same origin, so the
page needs no CORS and works offline: no CDN, no build step).

* ``/webhooks/socketio/chat``       the chat page (phone-sized first; embedded in an iframe by the snippet)
* ``/webhooks/socketio/widget.js``  the one-line snippet a shop pastes:
  ``<script src="https://<platform>/webhooks/socketio/widget.js" data-customer-token="…" async></script>``
* ``/webhooks/socketio/static/…``   the page's script and styles
* ``POST /webhooks/socketio/upload`` a photo or PDF the customer sends (``bot.files``), by the session token

The page may be framed only by the platform itself and the channel's ``allowed_origins`` (CSP
``frame-ancestors``); it runs no inline script, so injected markup cannot run either.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.files.inspect import Rejected
from bot.ratelimit import Rate
from channels import widget_session as ws

if TYPE_CHECKING:
    from channels.socketio import GuardedSocketIOInput

WEB = Path(__file__).parent / "web"
TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".html": "text/html; charset=utf-8", ".mp3": "audio/mpeg"}  # fmt: skip
STATIC = {"chat.js", "chat.css"}
UPLOAD_RATE = Rate.parse("20/10min")  # photos of a broken parcel, a receipt: a handful per conversation


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

    @bp.route("/upload", methods=["POST"])
    async def upload(request: Request) -> HTTPResponse:
        """A photo or PDF the customer is about to send: the raw body, ``?name=``, and the page's session token
        as the bearer. Returns the stored file's signed link, which the page then sends with ``user_uttered``."""
        auth = request.headers.get("authorization") or ""
        session = ws.verify(auth[7:] if auth.lower().startswith("bearer ") else "", channel._secret())
        if session is None:
            return response.json({"error": "连接已过期，请刷新页面后再试"}, status=401)
        decision = await channel.gateway.limiter.hit(f"upload:{session.conversation_id}", UPLOAD_RATE)
        if not decision.allowed:
            return response.json({"error": "发送文件太频繁了，请稍后再试"}, status=429,
                                 headers={"Retry-After": str(int(decision.retry_after) + 1)})  # fmt: skip
        files = channel.files
        body = request.body or b""
        if len(body) > files.max_bytes:
            return response.json({"error": f"文件太大，最大 {files.max_bytes // (1024 * 1024)} MB"}, status=413)
        name = str(request.args.get("name") or "")[:200]
        try:
            stored = await asyncio.get_running_loop().run_in_executor(
                None, files.save, session.customer.tenant_id, name, body)
        except Rejected as exc:
            return response.json({"error": str(exc)}, status=400)
        return response.json(stored.to_json())

    @bp.route("/static/<name>", methods=["GET"])
    async def static(_: Request, name: str) -> HTTPResponse:
        if name not in STATIC:
            return response.json({"error": "not found"}, status=404)
        return response.raw((WEB / name).read_bytes(), headers=_headers(Path(name).suffix))
