"""The customer side of a handoff, through the Rasa server's HTTP API (with its key, ``bot.rasa_env``).

Why Rasa and not the channel directly: a line appended as a ``bot`` event with ``execute_side_effects`` is
recorded in the tracker (so the conversation history and the archive see the agent's words, with the agent in
the event's metadata) *and* sent on the customer's own channel (``output_channel=latest``: the socket.io room
of a web customer; a REST customer reads it with ``GET /webhooks/rest/messages``). Rasa takes the
conversation's lock for it, so agent lines and bot turns never interleave inside a turn.

With several Rasa instances behind a load balancer, a call can fail because the instance that took it died.
Calls are retried; an agent's line carries its id (``metadata.line_id``) and, before it is sent again, the
tracker is read to see whether the first attempt got in, so a line is never shown twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import quote as _quote

import httpx

from bot.rasa_env import rasa_api_headers
from bot.settings import Settings
from bot.tracing import sync_httpx_hooks

log = logging.getLogger(__name__)
HISTORY_SECONDS = 3.0  # opening a chat reads it for the detail, the assist and the orders panels at once
HISTORY_KEPT = 256
ATTEMPTS = 3
RETRY_STATUS = (502, 503, 504)


def path(conversation_id: str) -> str:
    """Sanic (Rasa 3.6) does not percent-decode the conversation id in the path: ``default:u1001`` must stay
    as it is. Conversation ids are letters, digits and ``_.@-:`` (``channels.gateway``), so nothing else is
    ever escaped."""
    return _quote(conversation_id, safe=":@")


class RasaRelay:
    def __init__(self, settings: Settings, timeout: float = 5.0) -> None:
        self.settings = settings
        # the agent's request id and trace travel on to Rasa (bot.tracing)
        self._client = httpx.Client(base_url=settings.services.url("rasa"), timeout=timeout,
                                    event_hooks=sync_httpx_hooks())  # fmt: skip
        self._history: OrderedDict[str, tuple[float, list[dict[str, Any]]]] = OrderedDict()
        self._history_lock = threading.Lock()

    def _events(self, conversation_id: str, events: list[dict[str, Any]], side_effects: bool,
                line_id: str | None = None) -> None:  # fmt: skip
        params = {"output_channel": "latest", "execute_side_effects": "true"} if side_effects else {}
        for attempt in range(1, ATTEMPTS + 1):
            if attempt > 1:
                time.sleep(0.3 * attempt)
                if line_id and self._has_line(conversation_id, line_id):
                    return  # the failed attempt had got in
            try:
                r = self._client.post(f"/conversations/{path(conversation_id)}/tracker/events", json=events,
                                      params=params, headers=rasa_api_headers(self.settings))  # fmt: skip
            except httpx.TransportError:
                if attempt == ATTEMPTS:
                    raise
                continue
            if r.status_code not in RETRY_STATUS or attempt == ATTEMPTS:
                r.raise_for_status()
                return

    def _has_line(self, conversation_id: str, line_id: str) -> bool:
        r = self._client.get(f"/conversations/{path(conversation_id)}/tracker",
                             headers=rasa_api_headers(self.settings))  # fmt: skip
        r.raise_for_status()
        return any((e.get("metadata") or {}).get("line_id") == line_id for e in r.json().get("events") or [])

    def say(self, conversation_id: str, text: str, buttons: list[dict[str, str]] | None = None,
            agent: dict[str, Any] | None = None, image: str | None = None,
            custom: dict[str, Any] | None = None, line_id: str | None = None,
            again: bool = False) -> None:  # fmt: skip
        """``again``: the line may have arrived already (the agent's request is repeated); look first."""
        if again and line_id and self._has_line(conversation_id, line_id):
            return
        event: dict[str, Any] = {"event": "bot", "text": text or None, "metadata": {"handoff": True}}
        if agent:
            event["metadata"]["agent"] = agent
        if line_id:
            event["metadata"]["line_id"] = line_id
        data: dict[str, Any] = {}
        if buttons:
            data["buttons"] = buttons
        if image:  # the channel shows it as an image (socket.io attachment, WeChat image)
            data["image"] = image
        if custom:  # e.g. {"file": {url, name, content_type}}: the web chat shows a download link
            data["custom"] = custom
        if data:
            event["data"] = data
        self._events(conversation_id, [event], side_effects=True, line_id=line_id)

    def pause(self, conversation_id: str) -> None:
        self._events(conversation_id, [{"event": "pause"}], side_effects=False)

    def resume(self, conversation_id: str) -> None:
        # both events: a bare resume makes the policy predict the handoff again and pause (platform-facts.md)
        self._events(conversation_id, [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
                     side_effects=False)  # fmt: skip

    def trigger(self, conversation_id: str, intent: str) -> None:
        r = self._client.post(f"/conversations/{path(conversation_id)}/trigger_intent",
                              json={"name": intent}, params={"output_channel": "latest"},
                              headers=rasa_api_headers(self.settings))  # fmt: skip
        r.raise_for_status()

    def history(self, conversation_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """What the customer and the bot said before (and during) the handoff, oldest first; one read of the
        tracker serves the calls of the next few seconds (the inbox's panels ask together)."""
        now = time.monotonic()
        with self._history_lock:
            hit = self._history.get(conversation_id)
        if hit is not None and now - hit[0] < HISTORY_SECONDS:
            return hit[1][-limit:]
        lines = self._read_history(conversation_id)
        if lines is None:  # not remembered: the next call asks again
            return []
        with self._history_lock:
            self._history[conversation_id] = (now, lines)
            self._history.move_to_end(conversation_id)
            while len(self._history) > HISTORY_KEPT:
                self._history.popitem(last=False)
        return lines[-limit:]

    def _read_history(self, conversation_id: str) -> list[dict[str, Any]] | None:
        try:
            r = self._client.get(f"/conversations/{path(conversation_id)}/tracker",
                                 headers=rasa_api_headers(self.settings))  # fmt: skip
        except httpx.TransportError as exc:  # the Rasa instance went away mid-call: the inbox shows the rest
            log.warning("conversation history of %s not read: %s", conversation_id, type(exc).__name__)
            return None
        if r.status_code >= 400:
            return None
        lines = []
        for e in r.json().get("events") or []:
            if e.get("event") in ("user", "bot") and e.get("text"):
                agent = (e.get("metadata") or {}).get("agent")
                who = "customer" if e["event"] == "user" else "agent" if agent else "bot"
                line = {"from": who, "text": e["text"], "at": e.get("timestamp"), "agent": agent}
                file = (e.get("metadata") or {}).get("file") if e["event"] == "user" else None
                if isinstance(file, dict) and isinstance(file.get("url"), str):  # checked by the channel
                    line["file"] = {k: str(file.get(k) or "") for k in ("url", "name", "content_type")}
                lines.append(line)
        return lines

    def close(self) -> None:
        self._client.close()
