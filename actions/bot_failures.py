"""Repeated bot failure in one conversation (seed §2 Ticket-Service: automatic tickets): when the knowledge base
could not answer a customer for the ``BOT_FAILURES``-th time in a conversation session, their unanswered
questions are left for a person as a ``bot_failure`` message, which the handoff's clock turns into a ticket and
whose number it tells the customer (``handoff.tickets.auto``). Exactly once per session: only the reply that
makes the count reach the threshold leaves the message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import Any

from actions.common import customer, settings
from handoff.client import HandoffClient

log = logging.getLogger(__name__)
BOT_FAILURES = 3
FOLLOW_UP = "这几个问题小满都没能帮上忙😥 已经转给客服登记跟进了，稍后把工单号发给您～"


@functools.lru_cache(maxsize=1)
def _client() -> HandoffClient:
    return HandoffClient.from_settings(settings())


def unanswered(events: Iterable[dict[str, Any]], unsure_texts: frozenset[str]) -> list[str]:
    """The questions of the current session the bot answered with one of ``unsure_texts``, in order. Pure."""
    questions: list[str] = []
    last = ""
    for e in events:
        kind = e.get("event")
        if kind == "session_started":
            questions, last = [], ""
        elif kind == "user":
            last = str(e.get("text") or "")
        elif kind == "bot" and e.get("text") in unsure_texts and last:
            questions.append(last)
            last = ""
    return questions


async def after_unsure_reply(tracker: Any, unsure_texts: frozenset[str]) -> str | None:
    """Called after the bot said it is unsure (that line is not in ``tracker.events`` yet): the follow-up line
    to add when this was the threshold-th time, else None."""
    asked = [*unanswered(tracker.events, unsure_texts), str(tracker.latest_message.get("text") or "")]
    if len(asked) != BOT_FAILURES:
        return None
    who = customer(tracker)
    text = "机器人多次未能解答，客户问了：\n" + "\n".join(f"· {q[:200]}" for q in asked)
    try:
        await _client().leave_message(who.tenant_id, tracker.sender_id, who.customer_id or tracker.sender_id,
                                      text, reason="bot_failure")  # fmt: skip
    except Exception:  # the handoff service away: the customer can still ask for a person
        log.exception("could not leave the unanswered questions for a ticket")
        return None
    return FOLLOW_UP
