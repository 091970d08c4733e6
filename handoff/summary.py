"""What the agent reads before writing the first line: an extractive summary of the bot part of the
conversation (what the customer asked, the order numbers, the bot's last answer) and the message agent assist
looks up. Pure functions over ``[{"from": "customer"|"bot"|"agent", "text"}]`` lines, oldest first."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

ORDER_RE = re.compile(r"(?<!\d)\d{12,20}(?!\d)")
ASKED = 4  # the customer's last few lines say what they want; earlier ones are usually greetings
ANSWER_CHARS = 120


def _said(lines: Sequence[Mapping[str, Any]], who: str) -> list[str]:
    """What ``who`` typed, without button payloads (``/affirm``) and blank lines."""
    out = []
    for line in lines:
        text = str(line.get("text") or "").strip()
        if line.get("from") == who and text and not text.startswith("/"):
            out.append(text)
    return out


def order_numbers(lines: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for line in lines:
        for number in ORDER_RE.findall(str(line.get("text") or "")):
            seen.setdefault(number)
    return list(seen)


def extractive(lines: Sequence[Mapping[str, Any]]) -> str:
    """Three short lines; empty when the customer never talked to the bot."""
    asked, answered, orders = _said(lines, "customer"), _said(lines, "bot"), order_numbers(lines)
    out = []
    if asked:
        out.append("客户问了：" + " / ".join(asked[-ASKED:]))
    if orders:
        out.append("订单号：" + "、".join(orders))
    if answered:
        last = answered[-1]
        out.append("机器人最后回答：" + (last if len(last) <= ANSWER_CHARS else last[:ANSWER_CHARS] + "…"))
    return "\n".join(out)


def before_handoff(history: Sequence[Mapping[str, Any]], queued_at: float | None) -> list[Mapping[str, Any]]:
    """The part of the conversation the bot had, before the customer was queued."""
    if not queued_at:
        return list(history)
    return [line for line in history if not isinstance(line.get("at"), int | float) or line["at"] < queued_at]


def latest_question(during: Sequence[Mapping[str, Any]], before: Sequence[Mapping[str, Any]]) -> str:
    """The customer's latest line: in the chat with the agent if they wrote there, else to the bot. A line
    that only asks for a person (转人工) says nothing about the problem, so an earlier one is taken."""
    for lines in (during, before):
        for text in reversed(_said(lines, "customer")):
            if not _only_asks_for_a_person(text):
                return text
    return ""


_PERSON = re.compile(r"^(?:我要|我想|帮我|给我|请|麻烦)?(?:转|找)?(?:人工|真人|客服|人)(?:客服)?(?:吧|啊|呢|谢谢)?$")


def _only_asks_for_a_person(text: str) -> bool:
    return bool(_PERSON.match(re.sub(r"[\s，。！？,.!?~]+", "", text)))
