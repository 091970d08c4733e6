"""Bot replies as WeChat text. WeChat has no buttons: choices become numbered lines, and a reply that is just
that number is read back as the choice's payload. Pure functions plus a small per-conversation memory."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

CHOICE_SECONDS = 3600  # a number answers the last choices shown within the hour
MAX_CONVERSATIONS = 50_000
DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")  # full-width digits from Chinese keyboards


def as_text(messages: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """All of a turn's messages as one text (a passive reply is one message), and the payloads of its choices."""
    parts: list[str] = []
    payloads: list[str] = []
    for m in messages:
        if m.get("text"):
            parts.append(str(m["text"]).strip())
        if m.get("image"):
            parts.append(f"[图片] {m['image']}")
        custom = m.get("custom") if isinstance(m.get("custom"), dict) else {}
        order = custom.get("order") if isinstance(custom.get("order"), dict) else None
        if order:
            parts.append("\n".join(str(order[k]) for k in ("order_no", "status", "goods", "logistics") if order.get(k)))
        buttons = m.get("buttons") or m.get("quick_replies") or []
        lines = []
        for b in buttons:
            if isinstance(b, dict) and b.get("title") and b.get("payload"):
                payloads.append(str(b["payload"]))
                lines.append(f"{len(payloads)}. {b['title']}")
        if lines:
            parts.append("回复数字即可：\n" + "\n".join(lines))
    return "\n\n".join(p for p in parts if p), payloads


def pick(payloads: Sequence[str], text: str) -> str:
    """The payload a bare number picks, else the text unchanged."""
    number = text.strip().translate(DIGITS)
    if not number.isdigit():
        return text
    index = int(number) - 1
    return payloads[index] if 0 <= index < len(payloads) else text


class Choices:
    """The last numbered choices shown per conversation, in process (one Rasa instance per account)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._by_conv: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()

    async def remember(self, conversation_id: str, payloads: list[str]) -> None:
        if not payloads:
            return
        self._by_conv[conversation_id] = (self._clock(), payloads)
        self._by_conv.move_to_end(conversation_id)
        while len(self._by_conv) > MAX_CONVERSATIONS:
            self._by_conv.popitem(last=False)

    async def resolve(self, conversation_id: str, text: str) -> str:
        held = self._by_conv.get(conversation_id)
        if held is None or self._clock() - held[0] > CHOICE_SECONDS:
            return text
        return pick(held[1], text)


class RedisChoices(Choices):
    """The same in Redis, when Rasa instances share their lock store there: the customer's "2" may reach an
    instance other than the one that showed the choices."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        super().__init__()
        self._r: Any = aioredis.from_url(url, decode_responses=True)

    async def remember(self, conversation_id: str, payloads: list[str]) -> None:
        if payloads:
            await self._r.set(f"csbot:wechat:choices:{conversation_id}", json.dumps(payloads), ex=CHOICE_SECONDS)

    async def resolve(self, conversation_id: str, text: str) -> str:
        if not text.strip().translate(DIGITS).isdigit():
            return text  # no lookup for ordinary lines
        raw = await self._r.get(f"csbot:wechat:choices:{conversation_id}")
        return pick(json.loads(raw), text) if raw else text
