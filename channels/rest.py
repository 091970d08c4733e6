"""The REST channel: ``POST /webhooks/rest/webhook {"sender", "message", "metadata"?, "message_id"?}``.

Same URL and body as Rasa's built-in ``rest:`` channel, plus what the gateway (``channels.gateway``) adds:
``Authorization: Bearer <customer token>`` from the shop identifies the customer (the conversation id then
comes from the token, not from ``sender``); without it the sender is an anonymous visitor. Bad input gets a
4xx with a reason (400 malformed, 401 a token that does not verify, 413 too large, 415 not JSON), an empty
message a polite prompt, a customer over the rate limit a polite line with HTTP 429; the text is cleaned
before the NLU sees it. A ``message_id`` the client chose (8-64 of ``A-Za-z0-9_-``) makes a retried message
count once: sent again after a lost answer, it gets the stored replies (``channels.once``). A line the
content-safety filter refuses (``bot.safety``) gets a polite line with HTTP 200 and never reaches the NLU.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.identity import IdentityError
from channels.gateway import Gateway, admit_poll, slow_down_text
from channels.once import client_message_id
from channels.sanitize import EMPTY_REPLY, parse_body

MAX_BODY_BYTES = 64 * 1024  # a 2000-character message and its metadata fit many times over


def _error(status: int, reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=status)


class GuardedRestInput(InputChannel):
    def __init__(self, gateway: Gateway | None = None) -> None:
        self._gateway = gateway

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GuardedRestInput:
        return cls(Gateway.from_settings(overrides=credentials or {}))

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            self._gateway = Gateway.from_settings()
        return self._gateway

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("csbot_rest", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/messages", methods=["GET"])
        async def messages(request: Request) -> HTTPResponse:
            """What was said to this customer after ``since`` (a timestamp): how a REST customer (a shop's app)
            receives what an agent writes while a person handles the chat. Same identity rules as the webhook."""
            sender = request.args.get("sender") or ""
            try:
                since = float(request.args.get("since") or 0)
                _, conversation = self.gateway.identify(request.headers.get("authorization"), sender)
            except IdentityError as exc:
                return response.json({"error": str(exc)}, status=401, headers={"WWW-Authenticate": "Bearer"})
            except ValueError as exc:
                return _error(400, str(exc) if "sender" in str(exc) else "since must be a number")
            if not conversation:
                return _error(400, "sender is required")
            decision = await admit_poll(self.gateway, conversation)
            if not decision.allowed:
                return response.json({"error": slow_down_text(decision)}, status=429,
                                     headers={"Retry-After": str(max(1, round(decision.retry_after)))})  # fmt: skip
            agent = getattr(request.app.ctx, "agent", None)
            tracker = await agent.tracker_store.retrieve(conversation) if agent and agent.tracker_store else None
            out = []
            for e in (tracker.events if tracker else []):
                if getattr(e, "type_name", "") == "bot" and e.timestamp > since:
                    meta = e.metadata or {}
                    item: dict[str, Any] = {"recipient_id": conversation, "text": e.text or "", "at": e.timestamp}
                    for key in ("buttons", "image"):
                        if e.data.get(key):
                            item[key] = e.data[key]
                    if meta.get("agent"):
                        item["agent"] = meta["agent"]
                    out.append(item)
            return response.json(out)

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if len(request.body or b"") > MAX_BODY_BYTES:
                return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
            kind = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
            if kind != "application/json":
                return _error(415, "Content-Type must be application/json")
            parsed = parse_body(request.body)
            if isinstance(parsed, str):
                return _error(400, parsed)
            sender, text, client_metadata, message_id = parsed
            try:
                customer, conversation = self.gateway.identify(request.headers.get("authorization"), sender)
            except IdentityError as exc:
                return response.json({"error": str(exc)}, status=401, headers={"WWW-Authenticate": "Bearer"})
            except ValueError as exc:
                return _error(400, str(exc))
            ip = self.gateway.client_ip(request.ip, request.headers.get("x-forwarded-for"))
            decision = await self.gateway.admit(conversation, ip)
            if not decision.allowed:
                return response.json([{"recipient_id": conversation, "text": slow_down_text(decision)}], status=429,
                                     headers={"Retry-After": str(max(1, round(decision.retry_after)))})  # fmt: skip
            if not text:
                return response.json([{"recipient_id": conversation, "text": EMPTY_REPLY}])
            screened = await self.gateway.screen(customer, conversation, text)
            if screened.refusal:  # content safety: answered here, never seen by the NLU
                return response.json([{"recipient_id": conversation, "text": screened.refusal}])
            text = screened.text
            collector = CollectingOutputChannel()
            metadata = self.gateway.metadata(customer, conversation, client_metadata)
            await on_new_message(
                UserMessage(text, collector, conversation, input_channel=self.name(), metadata=metadata,
                            message_id=client_message_id(message_id))
            )
            return response.json(collector.messages)

        return bp
