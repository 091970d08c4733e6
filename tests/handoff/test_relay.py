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
