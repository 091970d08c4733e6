"""The archive (``cs_message``): every line of every conversation, sealed (``handoff.archive``). Rows are found by
tenant and conversation; the conversation's number (``session_id``, the partition key on MySQL) goes into the
query too, so MySQL reads only the partitions that can hold them."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, delete, func, select

from bot.crypto import Cipher, SealError
from bot.events.envelope import conversation_number
from bot.privacy import sql
from bot.privacy.base import Cursor, Record, Store
from bot.privacy.subject import Subject
from bot.storage.db import Database
from bot.storage.models import Message
from handoff.archive.archiver import aad

ROLE = {Message.FROM_USER: "customer", Message.FROM_AGENT: "agent", Message.FROM_BOT: "bot"}


class ArchiveStore(Store):
    name = "archive"

    def __init__(self, db: Database, cipher: Cipher) -> None:
        self.db, self.cipher = db, cipher

    def _where(self, subject: Subject, part: list[str]) -> Any:
        numbers = [conversation_number(subject.tenant, c) for c in part]
        return and_(Message.session_id.in_(numbers), Message.tenant_id == subject.tenant,
                    Message.conversation_id.in_(part))  # fmt: skip

    def conversations(self, tenant: str, customer: str) -> set[str]:
        with self.db.session() as s:
            return set(s.scalars(select(Message.conversation_id).distinct().where(
                Message.tenant_id == tenant, Message.customer_ref == customer)))  # fmt: skip

    def _line(self, m: Message) -> Record:
        line: Record = {"conversation_id": m.conversation_id, "msg_id": str(m.msg_id),
                        "role": ROLE.get(m.sender_role or 0, "customer"), "channel": m.channel,
                        "at": sql.plain(m.created_at)}  # fmt: skip
        try:
            body = json.loads(self.cipher.open(m.key_id, m.content, aad(m.tenant_id, m.msg_id)))
        except (SealError, ValueError):
            return {**line, "error": "sealed body does not open"}
        return {**line, **(body if isinstance(body, dict) else {"text": str(body)})}

    def export(self, subject: Subject) -> list[Record]:
        out: list[Record] = []
        with self.db.session() as s:
            for part in sql.chunks(subject.conversations):
                rows = s.scalars(select(Message).where(self._where(subject, part))
                                 .order_by(Message.created_at, Message.msg_id))  # fmt: skip
                out += [self._line(m) for m in rows]
        return out

    def count(self, subject: Subject) -> int:
        with self.db.session() as s:
            return sum(int(s.scalar(select(func.count()).select_from(Message).where(self._where(subject, part))) or 0)
                       for part in sql.chunks(subject.conversations))  # fmt: skip

    def erase(self, subject: Subject) -> int:
        with self.db.session() as s:
            return sum(s.execute(delete(Message).where(self._where(subject, part))).rowcount
                       for part in sql.chunks(subject.conversations))  # fmt: skip

    def tenants(self) -> set[str]:
        with self.db.session() as s:
            return sql.tenants(s, Message.tenant_id)

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        with self.db.session() as s:
            return sql.idle(s, Message.tenant_id, Message.conversation_id, Message.created_at, sql.utc(cutoff),
                            after, limit)  # fmt: skip

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        with self.db.session() as s:
            return sql.active(s, Message.tenant_id, Message.conversation_id, Message.created_at, tenant,
                              conversations, sql.utc(cutoff))  # fmt: skip



