"""Gateway hygiene shared by every channel: what a customer types is cleaned before Rasa sees it.

Pure functions on rasa's own Python (3.10); no imports beyond the standard library.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, NamedTuple

MAX_MESSAGE_CHARS = 2000  # longer pastes are cut: NLU gains nothing past this and trackers stay small
MAX_SENDER_CHARS = 128
EMPTY_REPLY = "您好像没有输入内容哦～ 有什么可以帮您的？查订单、查物流、退换货都可以直接问我。"

# a client's own id for a message, sent again with a retried message so it is handled once (channels.once)
MESSAGE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def clean_text(raw: str) -> str:
    """Strip terminal escapes and control characters (keep newlines), trim, cap the length."""
    text = _ANSI.sub("", raw)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C" or ch == "\u200d")
    text = re.sub(r"[ \t\u3000]+", " ", text).strip()
    return text[:MAX_MESSAGE_CHARS]


def valid_sender(raw: object) -> str | None:
    """A sender id we accept: a non-empty string or integer of printable characters, at most 128 long."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    sender = str(raw).strip()
    if not sender or len(sender) > MAX_SENDER_CHARS or not sender.isprintable():
        return None
    return sender


class Body(NamedTuple):
    sender: str
    text: str
    metadata: dict[str, Any] | None
    message_id: str | None = None


def parse_body(raw: bytes) -> Body | str:
    """(sender, text, metadata, message_id) from a webhook body, or an error string for a 400."""
    try:
        body = json.loads(raw or b"")
    except (ValueError, UnicodeDecodeError):
        return "body must be JSON: {\"sender\": \"...\", \"message\": \"...\"}"
    if not isinstance(body, dict):
        return "body must be a JSON object"
    sender = valid_sender(body.get("sender", "default"))
    if sender is None:
        return "sender must be a non-empty string of at most 128 printable characters"
    message = body.get("message")
    if not isinstance(message, str):
        return "message must be a string"
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        return "metadata must be a JSON object"
    message_id = body.get("message_id")
    if message_id is not None and not (isinstance(message_id, str) and MESSAGE_ID_RE.match(message_id)):
        return "message_id must be 8-64 letters, digits, _ or -"
    return Body(sender, clean_text(message), metadata, message_id)
