"""Customers' own rows in ``cs_user`` (user_type 0): the handoff creates one on first contact, keyed by the
customer ref (``external_id``). Removed once no handoff session points at it any more — the same ref may be an
anonymous visitor's conversation id with sessions of its own, which keep the row until they go too."""

from __future__ import annotations

from sqlalchemy import delete, exists, select

from bot.privacy.base import Record, Store
from bot.privacy.sql import chunks, row_dict
from bot.privacy.subject import Subject
from bot.storage.db import Database
from bot.storage.models import Session, User

COLUMNS = ("user_id", "external_id", "nick_name", "avatar_url", "phone_mask", "status", "created_at", "updated_at")


class AccountStore(Store):
    name = "accounts"

    def __init__(self, db: Database) -> None:
        self.db = db

    def _rows(self, subject: Subject) -> list[User]:
        out: list[User] = []
        with self.db.session() as s:
            for part in chunks(subject.refs):
                out += s.scalars(select(User).where(User.tenant_id == subject.tenant, User.user_type == User.CUSTOMER,
                                                    User.external_id.in_(part)).order_by(User.user_id))  # fmt: skip
        return out

    def export(self, subject: Subject) -> list[Record]:
        return [row_dict(u, COLUMNS) for u in self._rows(subject)]

    def erase(self, subject: Subject) -> int:
        removed = 0
        with self.db.session() as s:
            for part in chunks(subject.refs):
                used = exists().where(Session.tenant_id == subject.tenant, Session.customer_id == User.user_id)
                removed += s.execute(delete(User).where(User.tenant_id == subject.tenant,
                                                        User.user_type == User.CUSTOMER, User.external_id.in_(part),
                                                        ~used).execution_options(synchronize_session=False)
                                     ).rowcount  # fmt: skip
        return removed
