"""Metrics, traces and request ids in the Rasa server (3.10), installed by ``channels.server`` before Rasa
builds its app:

* the app Rasa builds gets ``GET /metrics`` and the request middleware of ``bot.observe_sanic`` (its
  middleware first, so it also times what the API guard refuses), and the platform's log format;
* every turn (``Agent.handle_message``: the conversation lock, NLU, policies, actions, replies sent) counts the
  customer's message and times it, as a span under the channel's request (a socket.io or WeChat turn, which
  has no request of its own, starts a trace and gets a request id);
* every reply sent counts as a message out, from the bot or, for a line an agent wrote, from the agent;
* calls to the action server carry the turn's ``traceparent`` and ``X-Request-Id``.
"""

from __future__ import annotations

import time
from typing import Any

from bot import tracing
from bot.logs import accept_request_id, configure_logging, current_request_id
from bot.metrics import MESSAGES, TURN_SECONDS, channel_label
from bot.settings import Settings

_installed = False


def sender_kind(sender_id: str | None) -> str:
    # identified customers' conversation ids carry their tenant ("default:u1001", channels.gateway); anonymous
    # visitors may not use ":"
    return "customer" if ":" in (sender_id or "") else "visitor"


def install(settings: Settings) -> None:
    global _installed
    if _installed:
        return
    _installed = True
    _app(settings)
    _turns()
    _replies()
    _action_calls()


def _app(settings: Settings) -> None:
    from rasa import server

    from bot.observe_sanic import instrument

    original = server.create_app

    def create_app(*args: Any, **kwargs: Any) -> Any:
        app = original(*args, **kwargs)
        configure_logging("rasa", level=None)  # after Sanic's own logging set-up; Rasa's level (--debug) stays
        return instrument(app, "rasa", settings)

    server.create_app = create_app


def _turns() -> None:
    from rasa.core.agent import Agent

    original = Agent.handle_message

    async def handle_message(self: Any, message: Any) -> Any:
        channel = channel_label(getattr(message, "input_channel", None))
        MESSAGES.labels(channel, "in", sender_kind(message.sender_id)).inc()
        if current_request_id() is None:
            accept_request_id(None)
        started = time.perf_counter()
        try:
            with tracing.span(f"turn {channel}", {"csbot.channel": channel}):
                return await original(self, message)
        finally:
            TURN_SECONDS.labels(channel).observe(time.perf_counter() - started)

    Agent.handle_message = handle_message


def _replies() -> None:
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import BotUttered

    original = MessageProcessor._send_bot_messages

    async def send_bot_messages(events: list[Any], tracker: Any, output_channel: Any) -> None:
        lines = [e for e in events if isinstance(e, BotUttered)]
        if lines:
            channel = channel_label(tracker.get_latest_input_channel())
            for e in lines:
                MESSAGES.labels(channel, "out", "agent" if (e.metadata or {}).get("agent") else "bot").inc()
        await original(events, tracker, output_channel)

    MessageProcessor._send_bot_messages = staticmethod(send_bot_messages)


def _action_calls() -> None:
    from rasa.utils.endpoints import EndpointConfig

    original = EndpointConfig.request

    async def request(self: Any, *args: Any, **kwargs: Any) -> Any:
        extra = tracing.outgoing_headers()
        if extra:
            kwargs["headers"] = {**extra, **(kwargs.get("headers") or {})}
        return await original(self, *args, **kwargs)

    EndpointConfig.request = request
