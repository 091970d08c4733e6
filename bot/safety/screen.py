"""The customer side, inside the Rasa server: a line is checked before the NLU sees it. A refused line gets a
polite answer and never reaches Rasa; a masked one goes on with ＊; refusals and review flags are audited.

Runs on the Rasa server's Python 3.10 and SQLAlchemy 1.4 (``bot.storage.db`` and ``bot.safety.record`` do).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from bot.safety import create_filter
from bot.safety.base import BLOCK, REVIEW, ContentFilter, Verdict
from bot.safety.record import Incident, record
from bot.settings import Settings

log = logging.getLogger(__name__)
REFUSED = "抱歉，您的消息里有不适宜的内容（{label}），没能发出去。换个说法再发给我吧，我很乐意继续帮您～"
REFUSED_PLAIN = "抱歉，您的消息里有不适宜的内容，没能发出去。换个说法再发给我吧，我很乐意继续帮您～"


def refusal_text(verdict: Verdict) -> str:
    return REFUSED.format(label=verdict.label) if verdict.label else REFUSED_PLAIN


@dataclass(frozen=True)
class Screened:
    text: str  # what goes on to the NLU (masked words as ＊)
    refusal: str | None = None  # set when the line was refused: tell the customer this instead


class Screen:
    def __init__(self, content: ContentFilter, settings: Settings) -> None:
        self.filter = content
        self.settings = settings
        self._db: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Screen:
        return cls(create_filter(settings), settings)

    async def screen(self, tenant_id: str, conversation_id: str, text: str) -> Screened:
        if not text:
            return Screened(text)
        if self.filter.blocking:  # an HTTP service: never wait on it on the event loop
            verdict = await asyncio.to_thread(self.filter.check, text, tenant_id)
        else:
            verdict = self.filter.check(text, tenant_id)
        if verdict.action in (BLOCK, REVIEW):
            log.info("content safety: %s a customer line in %s (%s, rule %s)", verdict.action, conversation_id,
                     verdict.category, verdict.rule)  # fmt: skip
            incident = Incident(tenant_id, "customer", "conversation", conversation_id, verdict)
            try:
                await asyncio.to_thread(self._write, incident)
            except Exception:  # the database away: the line is still refused; the log has the incident
                log.exception("content safety: could not audit a %s in %s", verdict.action, conversation_id)
        if verdict.blocked:
            return Screened("", refusal_text(verdict))
        return Screened(verdict.text)

    def _write(self, incident: Incident) -> None:
        if self._db is None:
            from bot.storage.db import Database

            self._db = Database.from_settings(self.settings)
        with self._db.engine.begin() as conn:
            record(conn, incident)
