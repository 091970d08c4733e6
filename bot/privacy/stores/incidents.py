"""Content-safety incidents of a customer's conversation in the audit log (``safety.block`` / ``safety.review``,
``bot.safety.record``): the category and rule, and the line with matched words as ＊ and PII masked.

They are the customer's words, so an export shows them; but the audit log is the platform's security record
(《网络安全法》 asks for such logs to be kept), so an erase redacts the line and keeps that an incident happened,
when, and under which rule. The purge leaves them to the audit log's own retention.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.privacy import sql
from bot.privacy.base import Record, Store
from bot.privacy.subject import Subject
from bot.storage.db import Database
from bot.storage.models import AuditLog

ACTIONS = ("safety.block", "safety.review")
REDACTED = "(已按用户要求删除)"


class SafetyIncidents(Store):
    name = "safety_incidents"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _rows(self, s: Any, subject: Subject) -> list[AuditLog]:
        out: list[AuditLog] = []
        for part in sql.chunks(subject.conversations):
            q = select(AuditLog).where(AuditLog.tenant_id == subject.tenant, AuditLog.action.in_(ACTIONS),
                                       AuditLog.target_type == "conversation", AuditLog.target_id.in_(part))
            out += s.scalars(q.order_by(AuditLog.created_at))
        return out

    def export(self, subject: Subject) -> list[Record]:
        with self.db.session() as s:
            return [{"conversation_id": r.target_id, "action": r.action, "at": sql.plain(r.created_at),
                     **{k: v for k, v in (r.detail or {}).items() if k in ("category", "label", "rule", "text")}}
                    for r in self._rows(s, subject)]  # fmt: skip

    def count(self, subject: Subject) -> int:
        return len(self._pending(subject))

    def _pending(self, subject: Subject) -> list[int]:
        with self.db.session() as s:
            return [r.audit_id for r in self._rows(s, subject) if (r.detail or {}).get("text") not in ("", REDACTED)]

    def erase(self, subject: Subject) -> int:
        redacted = 0
        with self.db.session() as s:
            for r in self._rows(s, subject):
                detail = dict(r.detail or {})
                if detail.get("text") in (None, "", REDACTED):
                    continue
                r.detail = {**detail, "text": REDACTED}  # a new dict: the JSON column sees the change
                redacted += 1
        return redacted
