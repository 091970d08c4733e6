"""The REST channel with input validation: `POST /webhooks/rest/webhook {"sender", "message", "metadata"}`.

Rasa's built-in REST channel answers a malformed body with a 500 and passes empty or control-character
messages straight to the NLU. This one answers 400 with a reason for a bad body, a polite prompt for an
empty message, and cleans the text first; everything else behaves like the built-in channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.sanitize import EMPTY_REPLY, parse_body


def _bad_request(reason: str) -> HTTPResponse:
    return response.json({"error": reason}, status=400)


class GuardedRestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("csbot_rest", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            parsed = parse_body(request.body)
            if isinstance(parsed, str):
                return _bad_request(parsed)
            sender, text, metadata = parsed
            if not text:
                return response.json([{"recipient_id": sender, "text": EMPTY_REPLY}])
            collector = CollectingOutputChannel()
            await on_new_message(
                UserMessage(text, collector, sender, input_channel=self.name(), metadata=metadata)
            )
            return response.json(collector.messages)

        return bp
