"""The relay to Rasa when the Rasa instance it reached has gone (the port refuses: nothing listens there)."""

from __future__ import annotations

import httpx
import pytest

from bot.settings import load_settings
from handoff.relay import RasaRelay

from ..conftest import free_port


def test_the_inbox_opens_without_the_bot_part_when_rasa_is_gone(env: dict[str, str]) -> None:
    relay = RasaRelay(load_settings({**env, "CSBOT_SERVICES__RASA_PORT": str(free_port())}), timeout=1)
    try:
        assert relay.history("default:u1") == []  # the agent still sees the handoff's own lines
        with pytest.raises(httpx.TransportError):  # a line for the customer is not silently dropped
            relay.say("default:u1", "您好", line_id="1")
    finally:
        relay.close()


def test_a_relay_call_made_for_an_agents_request_carries_its_request_id() -> None:
    """The hook the relay's client runs on every request, run in a worker thread as the service does."""
    import asyncio

    from bot.logs import REQUEST_ID_HEADER, request_id
    from bot.tracing import sync_httpx_hooks

    async def agents_request() -> httpx.Request:
        request_id.set("agent-req-42")
        outgoing = httpx.Request("POST", "http://rasa.internal/conversations/c/tracker/events")
        await asyncio.to_thread(sync_httpx_hooks()["request"][0], outgoing)
        return outgoing

    assert asyncio.run(agents_request()).headers[REQUEST_ID_HEADER] == "agent-req-42"
