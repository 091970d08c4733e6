"""Rasa's conversation trackers, read and deleted without the Rasa server (it may be down): the SQL tracker
store's ``events`` table by ``sender_id``, or the Redis tracker store's one key per conversation.

Neither has a tenant column: only conversations whose id proves the tenant (``Subject.owned``) are touched.
``events.data`` may be sealed (``enc:v1:``, ``channels.tracker_store``); it is opened with the platform cipher.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.crypto import Cipher, SealError
from bot.privacy.base import Cursor, Record, Store
from bot.privacy.sql import chunks
from bot.privacy.subject import Subject, owner_of

events = sa.table("events", sa.column("id"), sa.column("sender_id"), sa.column("type_name"),
                  sa.column("timestamp"), sa.column("data"))  # fmt: skip


def event_data(cipher: Cipher | None, sender_id: str, raw: str | None) -> dict[str, Any]:
    """One stored event as Rasa wrote it, opened if sealed (``enc:v1:…``, ``bot.storage.sealed``)."""
    if raw is None:
        return {}
    if raw.startswith("enc:"):
        from bot.storage.sealed import TRACKER_EVENTS

        try:
            raw = TRACKER_EVENTS.open(cipher, raw, {"sender_id": sender_id})
        except SealError:
            return {"error": "sealed event does not open"}
    try:
        data = json.loads(raw)
    except ValueError:
        return {"error": "not JSON"}
    return data if isinstance(data, dict) else {"value": data}


class SqlTrackers(Store):
    name = "trackers"

    def __init__(self, engine: Engine, cipher: Cipher | None, default_tenant: str) -> None:
        self.engine, self.cipher, self.default_tenant = engine, cipher, default_tenant

    def _present(self) -> bool:
        # a fresh home (Rasa never started) has no table yet: nothing to find, nothing to delete
        return sa.inspect(self.engine).has_table("events")

    def export(self, subject: Subject) -> list[Record]:
        owned = subject.owned()
        if not owned or not self._present():
            return []
        out: list[Record] = []
        with self.engine.connect() as conn:
            for part in chunks(owned):
                q = sa.select(events.c.sender_id, events.c.data).where(events.c.sender_id.in_(part))
                out += [{"conversation_id": r.sender_id, **event_data(self.cipher, r.sender_id, r.data)}
                        for r in conn.execute(q.order_by(events.c.id))]  # fmt: skip
        return out

    def count(self, subject: Subject) -> int:
        owned = subject.owned()
        if not owned or not self._present():
            return 0
        with self.engine.connect() as conn:
            return sum(int(conn.execute(sa.select(sa.func.count()).select_from(events)
                                        .where(events.c.sender_id.in_(part))).scalar() or 0)
                       for part in chunks(owned))  # fmt: skip

    def erase(self, subject: Subject) -> int:
        owned = subject.owned()
        if not owned or not self._present():
            return 0
        with self.engine.begin() as conn:
            return sum(conn.execute(events.delete().where(events.c.sender_id.in_(part))).rowcount
                       for part in chunks(owned))  # fmt: skip

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        if not self._present():
            return [], None
        q = sa.select(events.c.sender_id).group_by(events.c.sender_id)
        if after is not None:
            q = q.where(events.c.sender_id > after)
        q = q.having(sa.func.max(events.c.timestamp) < cutoff).order_by(events.c.sender_id).limit(limit)
        with self.engine.connect() as conn:
            senders = [str(r[0]) for r in conn.execute(q)]
        pairs = [(owner_of(s, self.default_tenant), s) for s in senders]
        return pairs, (senders[-1] if len(senders) == limit else None)

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        mine = [c for c in conversations if owner_of(c, self.default_tenant) == tenant]
        if not mine or not self._present():
            return set()
        out: set[str] = set()
        with self.engine.connect() as conn:
            for part in chunks(mine):
                q = sa.select(events.c.sender_id).distinct().where(events.c.sender_id.in_(part),
                                                                     events.c.timestamp >= cutoff)  # fmt: skip
                out |= {str(r[0]) for r in conn.execute(q)}
        return out

    def close(self) -> None:
        self.engine.dispose()


class RedisTrackers(Store):
    """``tracker_store: {type: redis}``: Rasa keeps a conversation as one JSON value under
    ``<key_prefix>:tracker:<sender id>``."""

    name = "trackers"

    def __init__(self, client: Any, prefix: str, default_tenant: str, cipher: Cipher | None = None) -> None:
        self.r, self.prefix, self.default_tenant, self.cipher = client, prefix, default_tenant, cipher

    @classmethod
    def from_config(cls, conf: dict[str, Any], default_tenant: str, cipher: Cipher | None) -> RedisTrackers:
        import redis

        client = redis.Redis(host=str(conf.get("url") or "127.0.0.1"), port=int(conf.get("port") or 6379),
                             db=int(conf.get("db") or 0), password=conf.get("password") or None,
                             socket_timeout=5.0, decode_responses=True)  # fmt: skip
        kp = str(conf.get("key_prefix") or "")
        # Rasa's RedisTrackerStore: an alphanumeric prefix becomes "<prefix>:tracker:", anything else "tracker:"
        prefix = f"{kp}:tracker:" if kp.isalnum() else "tracker:"
        return cls(client, prefix, default_tenant, cipher)

    def _events(self, sender_id: str, raw: str | None) -> list[dict[str, Any]]:
        if raw is None:
            return []
        doc = event_data(self.cipher, sender_id, raw)
        found = doc.get("events")
        return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []

    def export(self, subject: Subject) -> list[Record]:
        out: list[Record] = []
        for conv in sorted(subject.owned()):
            out += [{"conversation_id": conv, **e} for e in self._events(conv, self.r.get(self.prefix + conv))]
        return out

    def count(self, subject: Subject) -> int:
        return len(self.export(subject))

    def erase(self, subject: Subject) -> int:
        owned = sorted(subject.owned())
        if not owned:
            return 0
        removed = 0
        for conv in owned:
            held = len(self._events(conv, self.r.get(self.prefix + conv)))
            removed += max(held, int(self.r.delete(self.prefix + conv)))
        return removed

    def _last(self, conv: str) -> float:
        stamps = [float(e["timestamp"]) for e in self._events(conv, self.r.get(self.prefix + conv))
                  if isinstance(e.get("timestamp"), int | float)]  # fmt: skip
        return max(stamps, default=0.0)

    def idle(self, cutoff: float, after: Cursor, limit: int) -> tuple[list[tuple[str, str]], Cursor]:
        cursor, keys = self.r.scan(cursor=after or 0, match=f"{self.prefix}*", count=limit)
        convs = [k[len(self.prefix):] for k in keys]
        pairs = [(owner_of(c, self.default_tenant), c) for c in convs if self._last(c) < cutoff]
        return pairs, (cursor or None)

    def active(self, tenant: str, conversations: Collection[str], cutoff: float) -> set[str]:
        return {c for c in conversations if owner_of(c, self.default_tenant) == tenant and self._last(c) >= cutoff}

    def close(self) -> None:
        self.r.close()
