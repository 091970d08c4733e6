"""Questions the bot could not answer confidently (``cs_kb_lowconf``), kept for the knowledge base's review with
the conversation they came from. The question is PII-masked already; it is still what the customer asked."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import delete, func, select

from bot.privacy import sql
from bot.privacy.base import Cursor, Record, Store
from bot.privacy.subject import Subject
from bot.storage.db import Database
from knowledge.models import KbLowConfidence as Low


class LowConfidenceStore(Store):
    name = "kb_low_confidence"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _where(self, subject: Subject, part: list[str]) -> tuple[object, ...]:
        return Low.tenant_id == subject.tenant, Low.conversation_id.in_(part)

    def export(self, subject: Subject) -> list[Record]:
        out: list[Record] = []
        with self.db.session() as s:
            for part in sql.chunks(subject.conversations):
                out += [{"conversation_id": r.conversation_id, "question": r.query, "confidence": r.confidence,
                         "reason": r.reason, "at": sql.plain(r.created_at)}
                        for r in s.scalars(select(Low).where(*self._where(subject, part)).order_by(Low.created_at))]
        return out

    def count(self, subject: Subject) -> int:
        with self.db.session() as s:
            return sum(int(s.scalar(select(func.count()).select_from(Low).where(*self._where(subject, part))) or 0)
                       for part in sql.chunks(subject.conversations))  # fmt: skip

    def erase(self, subject: Subject) -> int:
        with self.db.session() as s:
            return sum(s.execute(delete(Low).where(*self._where(subject, part))).rowcount
                       for part in sql.chunks(subject.conversations))  # fmt: skip

    def tenants(self) -> set[str]:
        with self.db.session() as s:
            return sql.tenants(s, Low.tenant_id)

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        with self.db.session() as s:
            return sql.idle(s, Low.tenant_id, Low.conversation_id, Low.created_at, sql.utc(cutoff), after, limit)

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        with self.db.session() as s:
            return sql.active(s, Low.tenant_id, Low.conversation_id, Low.created_at, tenant, conversations,
                              sql.utc(cutoff))  # fmt: skip
