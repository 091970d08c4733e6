"""What the archive gets from a conversation's tracker: its customer, bot and agent lines as stream events.

The tracker store calls :func:`messages_of` with the events it is about to write and appends the result to the
outbox in the same transaction (``channels.tracker_store``), so every line Rasa stores is archived exactly once
and nothing Rasa did not store is. Agents' lines are ``bot`` events the handoff appended with the agent in
their metadata (``handoff.relay``). Runs in the Rasa server (Python 3.10).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from bot.events.envelope import StreamEvent

MAX_TEXT = 8000
FILE_COMMAND = "/send_file"


def tenant_and_customer(conversation_id: str, default_tenant: str) -> tuple[str, str]:
    """A logged-in customer's conversation is ``tenant:customer`` (derived from a verified token by the
    channels, which refuse a ``:`` in any other sender id); anything else is a visitor of the default tenant."""
    tenant, sep, customer = conversation_id.partition(":")
    return (tenant, customer) if sep and tenant and customer else (default_tenant, conversation_id)


def _line(e: dict[str, Any]) -> dict[str, Any] | None:
    kind, meta = e.get("event"), e.get("metadata") or {}
    text = e.get("text") if isinstance(e.get("text"), str) else ""
    if kind == "user":
        file = meta.get("file") if isinstance(meta.get("file"), dict) else None
        if text == FILE_COMMAND:
            text = ""
        if not text and not file:
            return None
        intent = ((e.get("parse_data") or {}).get("intent") or {}).get("name")
        out: dict[str, Any] = {"role": "customer", "text": text[:MAX_TEXT], "intent": intent,
                               "channel": e.get("input_channel")}  # fmt: skip
        if file:
            out["file"] = {k: str(file[k])[:512] for k in ("name", "content_type", "key") if k in file}
        return out
    if kind == "bot":
        data = e.get("data") or {}
        custom = data.get("custom") if isinstance(data.get("custom"), dict) else {}
        image = data.get("image") if isinstance(data.get("image"), str) else None
        file = custom.get("file") if isinstance(custom.get("file"), dict) else None
        if not text and not image and not file:
            return None
        agent = meta.get("agent") if isinstance(meta.get("agent"), dict) else None
        out = {"role": "agent" if agent else "bot", "text": text[:MAX_TEXT]}
        if agent and str(agent.get("id", "")).isdigit():
            out["agent_id"] = int(agent["id"])
        if image:
            out["image"] = image[:1024]
        if file:
            out["file"] = {k: str(file[k])[:512] for k in ("name", "content_type", "url") if k in file}
        buttons = data.get("buttons")
        if isinstance(buttons, list) and buttons:
            out["buttons"] = [str(b.get("title", ""))[:64] for b in buttons if isinstance(b, dict)][:10]
        return out
    return None


def messages_of(conversation_id: str, events: Iterable[dict[str, Any]], default_tenant: str,
                new_id: Callable[[], int]) -> list[StreamEvent]:  # fmt: skip
    tenant, customer = tenant_and_customer(conversation_id, default_tenant)
    out = []
    for e in events:
        line = _line(e)
        if line is None:
            continue
        line["customer"] = customer
        at = e.get("timestamp")
        out.append(StreamEvent(new_id(), "message", tenant, conversation_id,
                               float(at) if isinstance(at, int | float) else time.time(), line))  # fmt: skip
    return out
