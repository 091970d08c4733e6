"""One event on the stream: a small JSON document with its Snowflake id, keyed by conversation.

Kinds: ``message`` (a customer, bot or agent line), ``session`` (a handoff session's state change),
``ticket`` (a ticket's state change). The key is the conversation (tenant and Rasa sender id), so every
event of one conversation goes to one Kafka partition, in order, whichever session or ticket it belongs to.
Runs in the Rasa server as well (Python 3.10).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
KINDS = ("message", "session", "ticket")
ROLES = ("customer", "bot", "agent")
MAX_BYTES = 256 * 1024


class BadEvent(ValueError):
    """A record on the stream that is not an event this platform wrote: parked with this reason."""


@dataclass(frozen=True)
class StreamEvent:
    id: int  # Snowflake
    kind: str
    tenant: str
    key: str  # the conversation id
    at: float  # epoch seconds, when it happened
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"v": VERSION, "id": str(self.id), "kind": self.kind, "tenant": self.tenant,
                           "key": self.key, "at": self.at, "data": self.data},
                          ensure_ascii=False, separators=(",", ":"))  # fmt: skip

    def to_bytes(self) -> bytes:
        return self.to_json().encode()


def _need(doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadEvent(f"field {name!r} missing or of the wrong type")
    return value


def parse(raw: bytes | str) -> StreamEvent:
    """The event in ``raw``, or :class:`BadEvent` saying what is wrong (never another exception)."""
    if len(raw) > MAX_BYTES:
        raise BadEvent(f"larger than {MAX_BYTES} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEvent(f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict):
        raise BadEvent("not a JSON object")
    if doc.get("v") != VERSION:
        raise BadEvent(f"unknown version {str(doc.get('v'))[:20]!r}")
    kind = _need(doc, "kind", str)
    if kind not in KINDS:
        raise BadEvent(f"unknown kind {kind[:20]!r}")
    raw_id = _need(doc, "id", str)
    if not raw_id.isdigit() or not 0 < int(raw_id) < 2**63:
        raise BadEvent("id is not a Snowflake id")
    tenant, key = _need(doc, "tenant", str), _need(doc, "key", str)
    if not tenant or len(tenant) > 64 or not key or len(key) > 128:
        raise BadEvent("tenant or key empty or too long")
    at = float(_need(doc, "at", (int, float)))
    data = _need(doc, "data", dict)
    if kind == "message":
        if data.get("role") not in ROLES:
            raise BadEvent("message without a role of customer, bot or agent")
        if not isinstance(data.get("text", ""), str):
            raise BadEvent("message text is not a string")
    return StreamEvent(int(raw_id), kind, tenant, key, at, data)


def conversation_number(tenant: str, conversation_id: str) -> int:
    """A conversation's stable 63-bit number: the archive's ``session_id``, so one conversation's lines share a
    MySQL partition whichever handoff sessions it went through."""
    digest = hashlib.blake2b(f"{tenant}\x00{conversation_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1) or 1
