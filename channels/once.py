"""A customer's message is handled once, and a custom action survives the loss of one action server.

With several Rasa instances behind a load balancer, an instance can die after it stored a turn but before the
customer got the answer. The customer's client (the web chat, a shop's app) then sends the same message again,
with the same ``message_id``, and it lands on another instance. Here that message is recognised: under the
conversation's lock (Rasa's ``Agent.handle_message`` holds it around the processor), the stored tracker is
checked for a user event with that id, and if one is there the bot's replies to it are sent again instead of
handling the message a second time. Ids the client chose are stored prefixed ``c-``; Rasa's own random ids
are never looked up.

The call from Rasa to the action server is retried once when the connection fails (refused, or closed before
an answer): with two action servers behind a load balancer the retry reaches the live one. An action whose
server died half-way may so run twice; the platform's actions are safe to repeat (a handoff request joins the
queue once per conversation, an order change is keyed by the order).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)
PREFIX = "c-"
RETRY_AFTER_S = 0.3
_applied = False


def client_message_id(raw: str | None) -> str | None:
    """The id a message is stored under when its client named it (None: Rasa picks a random one)."""
    return f"{PREFIX}{raw}" if raw else None


def replies_to(events: list[Any], message_id: str) -> list[dict[str, Any]] | None:
    """The bot's messages that answered the user event ``message_id`` (None: no such user event)."""
    out: list[dict[str, Any]] | None = None
    for event in events:
        kind = getattr(event, "type_name", "")
        if kind == "user":
            if out is not None:
                break
            if getattr(event, "message_id", None) == message_id:
                out = []
        elif kind == "bot" and out is not None:
            message = {"text": event.text, **{k: v for k, v in (event.data or {}).items() if v}}
            out.append({k: v for k, v in message.items() if v is not None})
    return out


def apply() -> None:
    global _applied
    if _applied:
        return
    try:
        import aiohttp
        from rasa.core.processor import MessageProcessor
        from rasa.utils.endpoints import EndpointConfig
    except ImportError:  # not inside the Rasa runtime
        return
    _applied = True
    handle = MessageProcessor.handle_message

    async def handle_message(self: Any, message: Any) -> Any:
        if str(message.message_id or "").startswith(PREFIX):
            tracker = await self.tracker_store.retrieve(message.sender_id)
            replies = replies_to(list(tracker.events), message.message_id) if tracker else None
            if replies is not None:
                log.info("message %s of %s was handled before: its replies are sent again",
                         message.message_id, message.sender_id)  # fmt: skip
                for reply in replies:
                    await message.output_channel.send_response(message.sender_id, dict(reply))
                return getattr(message.output_channel, "messages", None)
        return await handle(self, message)

    MessageProcessor.handle_message = handle_message

    request = EndpointConfig.request

    async def request_once_more(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await request(self, *args, **kwargs)
        except aiohttp.ClientConnectionError as exc:
            log.warning("call to %s failed (%s); trying once more", self.url, type(exc).__name__)
            await asyncio.sleep(RETRY_AFTER_S)
            return await request(self, *args, **kwargs)

    EndpointConfig.request = request_once_more
