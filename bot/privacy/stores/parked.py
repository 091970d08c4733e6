"""Stream records a reader parked (``cs_dead_letter``: malformed, foreign, a key that lies): kept with their
body as it came, so they may hold a customer's line. The table has no tenant or conversation column; a record is
the subject's when its body names their tenant and one of their conversations (``"tenant":"…"``,
``"key":"…"``, as ``StreamEvent.to_json`` writes them). The purge removes every parked record past the age."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import delete, func, select

from bot.privacy.base import Record, Store
from bot.privacy.subject import Subject
from bot.storage.db import Database
from bot.storage.models import DeadLetter


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _marks(tenant: str, conv: str) -> tuple[str, str]:
    return (json.dumps({"tenant": tenant}, separators=(",", ":"))[1:-1],
            json.dumps({"key": conv}, ensure_ascii=False, separators=(",", ":"))[1:-1])  # fmt: skip


class ParkedStore(Store):
    name = "parked_records"

    def __init__(self, db: Database, default_tenant: str) -> None:
        self.db, self.default_tenant = db, default_tenant

    def _ids(self, s: Any, subject: Subject) -> list[int]:
        found: list[int] = []
        for conv in sorted(subject.conversations):
            tenant_mark, key_mark = _marks(subject.tenant, conv)
            rows = s.execute(select(DeadLetter.dl_id, DeadLetter.body).where(
                DeadLetter.body.like(_like(key_mark), escape="\\"))).all()  # fmt: skip
            found += [r.dl_id for r in rows if key_mark in r.body and tenant_mark in r.body]
        return sorted(set(found))

    def export(self, subject: Subject) -> list[Record]:
        with self.db.session() as s:
            ids = self._ids(s, subject)
            rows = s.scalars(select(DeadLetter).where(DeadLetter.dl_id.in_(ids))).all() if ids else []
            return [{"group": r.group_name, "reason": r.reason, "body": r.body, "at": r.created_at} for r in rows]

    def erase(self, subject: Subject) -> int:
        with self.db.session() as s:
            ids = self._ids(s, subject)
            return s.execute(delete(DeadLetter).where(DeadLetter.dl_id.in_(ids))).rowcount if ids else 0

    def sweep(self, cutoff: float, tenants: Collection[str], dry_run: bool) -> dict[str, int]:
        if self.default_tenant not in tenants:  # platform-wide rows: swept with the default tenant's purge
            return {}
        old = DeadLetter.created_at < cutoff
        with self.db.session() as s:
            n = (s.scalar(select(func.count()).select_from(DeadLetter).where(old)) if dry_run
                 else s.execute(delete(DeadLetter).where(old)).rowcount)  # fmt: skip
        return {self.default_tenant: int(n or 0)}
