"""The web chat channel: Rasa's socket.io protocol, with the holes of Rasa 3.6's own channel closed.

Same events as ``rasa.core.channels.socketio`` (``session_request`` → ``session_confirm``, ``user_uttered``,
``bot_uttered``), so rasa-webchat works against it. What it adds:

* **The server picks the conversation.** ``session_confirm`` carries ``{"session_id", "session_token"}``; a
  browser resumes a conversation only with that token (``channels.widget_session``). A shop-signed customer
  token (``auth: {"customer_token"}`` at connect) makes the conversation the customer's own.
* **Origin allow-list** at connect (``allowed_origins`` in credentials.yml; the platform's own pages always).
* **The gateway's rules**: the sealed identity for the actions, message size cap, rate limits
  (``channels.gateway``) — a refused message is told to the customer, never dropped silently.
* **Nothing lost while away**: ``session_request {"since": <timestamp>}`` replays what was said after it
  (``csbot_history``), from the tracker; other tabs of the same conversation see the customer's lines
  (``csbot_echo``); ``csbot_typing`` says when the bot has finished with a message.
* ``enter_room`` is awaited: python-socketio 5.x made it a coroutine, and Rasa 3.6 calls it without
  ``await``, so with ``session_persistence`` its channel never delivers a reply.

Runs in the Rasa server (Python 3.10). The page and the snippet are served here too (``channels.widget_web``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOOutput
from sanic import Blueprint, Sanic
from socketio import AsyncServer

from bot.files.links import attachment_of
from bot.files.service import FileService
from bot.identity import IdentityError
from bot.settings import home_secret
from bot.tokens import ServiceTokens
from channels import widget_session as ws
from channels.gateway import Gateway, slow_down_text
from channels.sanitize import EMPTY_REPLY, MAX_MESSAGE_CHARS, clean_text

log = logging.getLogger(__name__)

BAD_FILE = "文件没有发出去（链接无效或已过期），请重新选择文件～"
FILE_PAYLOAD = "/send_file"  # the intent a file message carries (data/rules.yml); the file is in the metadata
SEEN_EVERY_SECONDS = 1.0  # a page reports it showed agent lines at most this often (ours: every 1.5 s)
TOO_LONG = "消息太长啦（最多 {limit} 个字），分几条发给我吧～"
NO_SESSION = "连接已过期，请刷新页面后再试～"
HISTORY_LIMIT = 200


class WidgetOutput(SocketIOOutput):
    """Rasa's socket.io output, plus who wrote a line (an agent's name) in ``metadata``, where rasa-webchat
    ignores it, and custom payloads as one ``{"custom": …}`` object (Rasa spreads them into emit kwargs)."""

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        meta = _meta(kwargs)
        for part in text.strip().split("\n\n"):
            await self._send_message(recipient_id, {"text": part, **meta})

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: list[dict[str, Any]],
                                     **kwargs: Any) -> None:  # fmt: skip
        parts = text.strip().split("\n\n") or [text]
        meta = _meta(kwargs)
        for part in parts[:-1]:
            await self._send_message(recipient_id, {"text": part, **meta})
        replies = [{"content_type": "text", "title": b.get("title", ""), "payload": b.get("payload", "")}
                   for b in buttons]  # fmt: skip
        await self._send_message(recipient_id, {"text": parts[-1], "quick_replies": replies, **meta})

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"custom": json_message, **_meta(kwargs)})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        # Rasa's drops who sent it: an agent's photo would show as the bot's
        message = {"attachment": {"type": "image", "payload": {"src": image}}, **_meta(kwargs)}
        await self._send_message(recipient_id, message)


def _origins(value: Any) -> list[str]:
    if isinstance(value, str):
        return [o.strip() for o in value.split(",") if o.strip()]
    return [str(o) for o in value or []]


def _meta(kwargs: dict[str, Any]) -> dict[str, Any]:
    agent = kwargs.get("agent")
    if isinstance(agent, dict) and agent.get("name"):
        return {"metadata": {"agent": {"name": str(agent["name"])}}}
    return {}


class _SocketBlueprint(Blueprint):
    def __init__(self, channel: GuardedSocketIOInput, sio: AsyncServer, path: str) -> None:
        super().__init__("csbot_socketio", __name__)
        self.ctx.channel, self.ctx.sio, self.ctx.path = channel, sio, path  # sanic allows attributes on ctx only

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        self.ctx.sio.attach(app, self.ctx.path)
        self.ctx.channel.app = app  # the tracker store, for the history a returning browser asks for
        super().register(app, options)


class GuardedSocketIOInput(InputChannel):
    def __init__(self, gateway: Gateway | None = None, allowed_origins: list[str] | None = None,
                 user_message_evt: str = "user_uttered", bot_message_evt: str = "bot_uttered",
                 socketio_path: str = "/socket.io", metadata_key: str = "metadata") -> None:  # fmt: skip
        self._gateway = gateway
        self.allowed_origins = list(allowed_origins or [])
        self.user_message_evt, self.bot_message_evt = user_message_evt, bot_message_evt
        self.socketio_path, self.metadata_key = socketio_path, metadata_key
        self.sio: AsyncServer | None = None
        self.app: Sanic | None = None
        self._files: FileService | None = None
        self._seen_tokens: ServiceTokens | None = None
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def name(cls) -> str:
        return "socketio"  # the same name as Rasa's: output_channel=latest finds this channel

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GuardedSocketIOInput:
        c = dict(credentials or {})
        rates = {k: c[k] for k in ("per_conversation", "per_ip") if c.get(k)}
        gateway = Gateway.from_settings(overrides=rates)
        # credentials.yml names the shop sites; settings (widget.allowed_origins, CSBOT_WIDGET__ALLOWED_ORIGINS) add
        # a deployment's own without editing the repository's file
        widget = gateway.settings.raw.get("widget") or {}
        origins = _origins(c.get("allowed_origins")) + _origins(widget.get("allowed_origins"))
        return cls(gateway, origins, c.get("user_message_evt", "user_uttered"),
                   c.get("bot_message_evt", "bot_uttered"), c.get("socketio_path", "/socket.io"),
                   c.get("metadata_key", "metadata"))  # fmt: skip

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            self._gateway = Gateway.from_settings()
        return self._gateway

    def get_output_channel(self) -> OutputChannel | None:
        return WidgetOutput(self.sio, self.bot_message_evt) if self.sio else None

    def _secret(self) -> str:
        return home_secret(self.gateway.settings, "widget-session")

    def file_secret(self) -> str:
        return home_secret(self.gateway.settings, "file-links")

    @property
    def files(self) -> FileService:
        """Where customers' uploads go (``bot.files``; the same store the handoff service serves from)."""
        if self._files is None:
            self._files = FileService.from_settings(self.gateway.settings)
        return self._files

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # CORS is decided in connect() (Origin allow-list); engine.io's own check is off. 256 KB per packet:
        # a too-long message still arrives and is refused with a reason the customer sees.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[], max_http_buffer_size=256 * 1024,
                          client_manager=shared_rooms(self.gateway.settings))  # fmt: skip
        self.sio = sio
        bp = _SocketBlueprint(self, sio, self.socketio_path)
        from channels.widget_web import add_routes

        add_routes(bp, self)

        @sio.on("connect")
        async def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool:
            origin, host = environ.get("HTTP_ORIGIN"), environ.get("HTTP_HOST")
            if not ws.origin_allowed(origin, host, self.allowed_origins):
                log.info("socket.io connect refused: origin %s not allowed", origin)
                raise ConnectionRefusedError("origin not allowed")
            request = environ.get("sanic.request")
            ip = self.gateway.client_ip(getattr(request, "ip", None), environ.get("HTTP_X_FORWARDED_FOR"))
            session: dict[str, Any] = {"ip": ip, "customer": None}
            token = auth.get("customer_token") if isinstance(auth, dict) else None
            if token:
                try:
                    customer = self.gateway.shops.verify(str(token))
                    exp = float(jwt.decode(str(token), options={"verify_signature": False})["exp"])
                except (IdentityError, KeyError, ValueError, jwt.PyJWTError):
                    raise ConnectionRefusedError("customer token does not verify") from None
                session["customer"] = ws.for_customer(customer, exp)
            await sio.save_session(sid, session)
            return True

        @sio.on("session_request")
        async def session_request(sid: str, data: Any) -> None:
            data = data if isinstance(data, dict) else {}
            state = await sio.get_session(sid)
            bound: ws.WidgetSession | None = state.get("customer")
            if bound is None:
                resumed = ws.verify(data.get("session_token"), self._secret())
                # only an anonymous session resumes by token; a customer's needs the shop's token each time
                if resumed and not resumed.customer.identified:
                    bound = resumed
                else:
                    bound = ws.new_anonymous(self.gateway.settings.default_tenant)
            old = state.get("session")
            if old and old.conversation_id != bound.conversation_id:
                await sio.leave_room(sid, old.conversation_id)
            state["session"] = bound
            await sio.save_session(sid, state)
            await sio.enter_room(sid, bound.conversation_id)
            await sio.emit("session_confirm", {"session_id": bound.conversation_id,
                                               "session_token": ws.mint(bound, self._secret())}, to=sid)  # fmt: skip
            since = data.get("since")
            if isinstance(since, int | float) and not isinstance(since, bool):
                await sio.emit("csbot_history", {"items": await self._history(bound.conversation_id, since)},
                               to=sid)  # fmt: skip

        @sio.on(self.user_message_evt)
        async def handle_message(sid: str, data: Any) -> None:
            state = await sio.get_session(sid)
            bound: ws.WidgetSession | None = state.get("session")
            data = data if isinstance(data, dict) else {}
            claimed = data.get("session_id")
            if bound is None or (claimed and claimed != bound.conversation_id):
                await self._tell(sid, NO_SESSION, error="no_session")
                return
            raw = data.get("message")
            file = None
            if data.get("file") is not None:  # a photo or PDF uploaded first (/webhooks/socketio/upload)
                file = attachment_of(data["file"], bound.customer.tenant_id, self.file_secret(), time.time())
                if file is None:
                    await self._tell(sid, BAD_FILE, error="bad_file")
                    return
                raw = FILE_PAYLOAD
            if not isinstance(raw, str):
                await self._tell(sid, EMPTY_REPLY, error="empty")
                return
            if len(raw) > MAX_MESSAGE_CHARS:
                await self._tell(sid, TOO_LONG.format(limit=MAX_MESSAGE_CHARS), error="too_long")
                return
            conversation = bound.conversation_id
            decision = await self.gateway.admit(conversation, state.get("ip"))
            if not decision.allowed:
                await self._tell(sid, slow_down_text(decision), error="rate_limited")
                return
            text = clean_text(raw)
            if not text:
                await self._tell(sid, EMPTY_REPLY, error="empty")
                return
            screened = await self.gateway.screen(bound.customer, conversation, text)
            if screened.refusal:  # content safety: told to the customer, never seen by the NLU
                await self._tell(sid, screened.refusal, error="refused")
                return
            text = screened.text
            client_meta = data.get(self.metadata_key) or data.get("customData")
            metadata = self.gateway.metadata(bound.customer, conversation, client_meta)
            if file:
                metadata["file"] = file
            await sio.emit("csbot_echo", {"text": text, **({"file": file} if file else {})}, room=conversation,
                           skip_sid=sid)  # fmt: skip
            output = WidgetOutput(sio, self.bot_message_evt)
            try:
                await on_new_message(UserMessage(text, output, conversation, input_channel=self.name(),
                                                 metadata=metadata))  # fmt: skip
            finally:
                await sio.emit("csbot_typing", {"typing": False}, room=conversation)

        @sio.on("csbot_seen")
        async def seen(sid: str, data: Any) -> None:
            """The page showed an agent's line on a visible screen: no push needed for it (handoff.notify)."""
            state = await sio.get_session(sid)
            bound: ws.WidgetSession | None = state.get("session")
            now = time.monotonic()
            if bound is None or now - state.get("seen_reported", 0.0) < SEEN_EVERY_SECONDS:
                return
            state["seen_reported"] = now
            await sio.save_session(sid, state)
            await self._report_seen(bound)

        return bp

    async def _report_seen(self, bound: ws.WidgetSession) -> None:
        settings = self.gateway.settings
        if self._seen_tokens is None:
            self._seen_tokens = ServiceTokens(settings.keyring, "rasa-widget", settings.service_token_seconds)
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        url = settings.services.url("handoff") + "/internal/seen"
        tenant = bound.customer.tenant_id
        try:
            async with self._http.post(url, json={"conversation_id": bound.conversation_id, "at": time.time()},
                                       headers=self._seen_tokens.headers(tenant)) as r:  # fmt: skip
                if r.status >= 400:
                    log.info("handoff refused a seen report: HTTP %s", r.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:  # a push may go out needlessly; nothing is lost
            log.info("could not report a seen chat to the handoff service: %s", exc)

    async def _tell(self, sid: str, text: str, error: str) -> None:
        """A refusal the customer sees (rasa-webchat shows it as a bot line; our page as a notice)."""
        await self.sio.emit(self.bot_message_evt, {"text": text, "metadata": {"notice": error}}, to=sid)  # type: ignore[union-attr]

    async def _history(self, conversation_id: str, since: float) -> list[dict[str, Any]]:
        agent = getattr(getattr(self.app, "ctx", None), "agent", None)
        store = getattr(agent, "tracker_store", None)
        tracker = await store.retrieve(conversation_id) if store else None
        return history_items(tracker.events if tracker else [], since)


def history_items(events: Any, since: float, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """The customer's and the bot's (or an agent's) lines after ``since``, as the page shows them."""
    out: list[dict[str, Any]] = []
    for e in events:
        kind = getattr(e, "type_name", "")
        if kind not in ("user", "bot") or e.timestamp <= since or not (e.text or getattr(e, "data", None)):
            continue
        if kind == "user":
            line = {"from": "customer", "text": e.text or "", "at": e.timestamp}
            file = (e.metadata or {}).get("file") if isinstance(getattr(e, "metadata", None), dict) else None
            if isinstance(file, dict) and file.get("url"):
                line["file"] = {k: str(file.get(k) or "") for k in ("url", "name", "content_type")}
            out.append(line)
            continue
        item: dict[str, Any] = {"from": "bot", "text": e.text or "", "at": e.timestamp}
        data, meta = e.data or {}, e.metadata or {}
        if data.get("buttons"):
            item["quick_replies"] = [{"content_type": "text", "title": b.get("title", ""),
                                      "payload": b.get("payload", "")} for b in data["buttons"]]  # fmt: skip
        if data.get("image"):
            item["attachment"] = {"type": "image", "payload": {"src": data["image"]}}
        if data.get("custom"):
            item["custom"] = data["custom"]
        agent = meta.get("agent")
        if isinstance(agent, dict) and agent.get("name"):
            item["from"], item["metadata"] = "agent", {"agent": {"name": str(agent["name"])}}
        out.append(item)
    return out[-limit:]


def shared_rooms(settings: Any) -> Any:
    """With several Rasa instances (a Redis lock store), a customer's socket may sit on another instance than the
    one that speaks to them (an agent's line arrives through whichever instance the balancer picked): rooms are
    then shared through Redis pub/sub, so an emit to a conversation reaches its sockets wherever they are.
    One instance (the in-memory lock store) keeps rooms in the process."""
    from bot.rasa_env import lock_store_config

    if settings.backend("lock_store").type != "redis":
        return None
    from socketio import AsyncRedisManager

    o = lock_store_config(settings)
    auth = f":{quote(str(o['password']), safe='')}@" if o.get("password") else ""
    return AsyncRedisManager(f"redis://{auth}{o['url']}:{o['port']}/{o['db']}",
                             channel=f"{o.get('key_prefix') or 'csbot'}:socketio")  # fmt: skip
