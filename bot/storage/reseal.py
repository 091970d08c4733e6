"""Key rotation: count sealed rows per key (``csbot keys status``) and re-seal everything under the current key
(``csbot keys rotate``), so an old key can be removed from ``encryption.keys``.

The job walks each sealed column (``bot.storage.sealed.STORES``, the archive's ``cs_message``, the Redis
tracker store) in primary-key batches and rewrites only rows not sealed under ``encryption.key_id``, plain rows
from before sealing included. Each row is updated only if it still holds what was read (a writer may have
changed it meanwhile), so the job is idempotent and resumable: run it again and it picks up what is left.
Every store it finishes is recorded in the audit log. A row that does not open (its key is already gone) is
counted and left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.crypto import PREFIX, Cipher, SealError, sealed_key
from bot.storage.sealed import STORES, SealedColumn

log = logging.getLogger(__name__)
PLAIN = "(plain)"
UNKNOWN = "(other keys)"  # sealed under a key id not configured here


@dataclass
class Tally:
    """One store in one database: rows per key id (``PLAIN`` for rows from before sealing)."""

    store: str  # "cs_handoff_line.content", "redis trackers", ...
    database: str
    keys: dict[str, int] = field(default_factory=dict)
    resealed: int = 0
    failed: int = 0  # rows that did not open: left as they are

    def add(self, key: str, n: int = 1) -> None:
        if n:
            self.keys[key] = self.keys.get(key, 0) + n


def _table(spec: SealedColumn) -> sa.TableClause:
    names = dict.fromkeys([*spec.keys, *spec.bind, spec.column])
    return sa.table(spec.table, *(sa.column(n, sa.JSON if spec.json and n == spec.column else None) for n in names))


def _pages(engine: Engine, query: sa.Select, keys: list[Any], batch: int) -> Iterator[list[Any]]:
    """``query``'s rows in primary-key order, ``batch`` at a time (keyset pagination: no OFFSET scans)."""
    key = sa.tuple_(*keys) if len(keys) > 1 else keys[0]
    last: Any = None
    while True:
        q = query if last is None else query.where(key > (sa.tuple_(*last) if len(keys) > 1 else last[0]))
        with engine.connect() as conn:
            rows = conn.execute(q.order_by(*keys).limit(batch)).all()
        if not rows:
            return
        yield rows
        last = [rows[-1]._mapping[k.name] for k in keys]


def _count_text(engine: Engine, spec: SealedColumn, cipher: Cipher, tally: Tally) -> None:
    col = _table(spec).c[spec.column]
    cases = {k: sa.func.sum(sa.case((col.startswith(f"{PREFIX}{k}:", autoescape=True), 1), else_=0))
             for k in cipher.keys}  # fmt: skip
    sealed = sa.func.sum(sa.case((col.startswith(PREFIX), 1), else_=0))
    with engine.connect() as conn:
        row = conn.execute(sa.select(sa.func.count(col), sealed, *cases.values())).one()
    total, in_prefix, known = int(row[0] or 0), int(row[1] or 0), [int(x or 0) for x in row[2:]]
    for k, n in zip(cases, known, strict=True):
        tally.add(k, n)
    tally.add(PLAIN, total - in_prefix)
    tally.add(UNKNOWN, in_prefix - sum(known))


def _reseal_rows(engine: Engine, spec: SealedColumn, cipher: Cipher, batch: int, tally: Tally, write: bool) -> None:
    t = _table(spec)
    col, keys = t.c[spec.column], [t.c[k] for k in spec.keys]
    query = sa.select(*t.c).where(col.isnot(None))
    if not spec.json:  # JSON is not compared as text alike on every database: those rows are sorted out here
        query = query.where(~col.startswith(f"{PREFIX}{cipher.key_id}:", autoescape=True))
    for rows in _pages(engine, query, keys, batch):
        changes = []
        for r in rows:
            stored = r._mapping[spec.column]
            inner = spec.sealed_text(stored)
            key = (sealed_key(inner) or PLAIN) if inner else PLAIN
            if not write:
                tally.add(key if key == PLAIN or key in cipher.keys else UNKNOWN)
                continue
            if key == cipher.key_id:
                continue
            try:
                plain = spec.open(cipher, stored, r._mapping)
            except SealError:
                tally.failed += 1
                continue
            changes.append((r, stored, spec.seal(cipher, plain, r._mapping)))
        if changes:
            with engine.begin() as conn:
                for r, old, new in changes:
                    where = [k == r._mapping[k.name] for k in keys]
                    if not spec.json:  # only if nobody changed it since it was read
                        where.append(col == old)
                    tally.resealed += conn.execute(sa.update(t).where(*where).values({spec.column: new})).rowcount


def _message_rows(engine: Engine, cipher: Cipher, batch: int, tally: Tally, write: bool) -> None:
    """The archive (``cs_message``): a ``key_id`` column beside a binary body bound to ``tenant:msg_id``."""
    t = sa.table("cs_message", sa.column("msg_id"), sa.column("session_id"), sa.column("tenant_id"),
                 sa.column("key_id"), sa.column("content"))  # fmt: skip
    if not write:
        with engine.connect() as conn:
            for key_id, n in conn.execute(sa.select(t.c.key_id, sa.func.count()).group_by(t.c.key_id)):
                tally.add(key_id if key_id in cipher.keys else UNKNOWN, int(n))
        return
    query = sa.select(*t.c).where(t.c.key_id != cipher.key_id)
    for rows in _pages(engine, query, [t.c.session_id, t.c.msg_id], batch):
        changes = []
        for r in rows:
            aad = f"{r.tenant_id}:{r.msg_id}".encode()
            try:
                plain = cipher.open(r.key_id, bytes(r.content), aad)
            except SealError:
                tally.failed += 1
                continue
            changes.append((r, *cipher.seal(plain, aad)))
        with engine.begin() as conn:
            for r, key_id, blob in changes:
                tally.resealed += conn.execute(
                    sa.update(t).where(t.c.session_id == r.session_id, t.c.msg_id == r.msg_id, t.c.key_id == r.key_id)
                    .values(key_id=key_id, content=blob)).rowcount  # fmt: skip


def _redis_trackers(client: Any, prefix: str, cipher: Cipher, tally: Tally, write: bool) -> None:
    """Rasa's Redis tracker store: one sealed value per conversation (``channels.redis_tracker_store``)."""
    from redis.exceptions import WatchError

    spec = next(s for s in STORES if s.table == "events")
    for name in client.scan_iter(match=f"{prefix}*", count=500):
        sender = name[len(prefix):]
        with client.pipeline() as pipe:
            try:
                pipe.watch(name)  # a turn saving meanwhile aborts this write: the next run picks it up
                stored, ttl = pipe.get(name), pipe.pttl(name)
                if stored is None:
                    continue
                key = sealed_key(stored) or PLAIN
                if not write:
                    tally.add(key if key == PLAIN or key in cipher.keys else UNKNOWN)
                    continue
                if key == cipher.key_id:
                    continue
                new = spec.seal(cipher, spec.open(cipher, stored, {"sender_id": sender}), {"sender_id": sender})
                pipe.multi()
                pipe.set(name, new, px=ttl if ttl and ttl > 0 else None)
                pipe.execute()
                tally.resealed += 1
            except SealError:
                tally.failed += 1
            except WatchError:  # a turn saved it meanwhile, under the current key
                continue


Redis = tuple[Any, str]  # a client (decode_responses=True) and the tracker key prefix
Done = Callable[[Tally], None]


def status(engines: dict[str, Engine], cipher: Cipher, redis: Redis | None = None) -> list[Tally]:
    """Rows per key id in every sealed store of ``engines`` (name → engine: the platform database, and Rasa's
    tracker database when it is another one) and of the Redis tracker store."""
    return _walk(engines, cipher, 1000, False, redis, None)


def reseal(engines: dict[str, Engine], cipher: Cipher, batch: int = 1000, redis: Redis | None = None,
           done: Done | None = None) -> list[Tally]:  # fmt: skip
    """Re-seal under ``cipher.key_id`` every row sealed under another key or still plain; ``done`` is called
    with each store's tally as soon as it is finished (the audit log)."""
    return _walk(engines, cipher, batch, True, redis, done)


def _walk(engines: dict[str, Engine], cipher: Cipher, batch: int, write: bool, redis: Redis | None,
          done: Done | None) -> list[Tally]:  # fmt: skip
    out: list[Tally] = []

    def finish(tally: Tally) -> None:
        out.append(tally)
        if done:
            done(tally)

    for db_name, engine in engines.items():
        inspector = sa.inspect(engine)
        for spec in STORES:
            if not inspector.has_table(spec.table):
                continue
            tally = Tally(f"{spec.table}.{spec.column}", db_name)
            if write:
                _reseal_rows(engine, spec, cipher, batch, tally, True)
            if spec.json:  # then count what the table holds now
                _reseal_rows(engine, spec, cipher, batch, tally, False)
            else:
                _count_text(engine, spec, cipher, tally)
            finish(tally)
        if inspector.has_table("cs_message"):
            tally = Tally("cs_message.content", db_name)
            if write:
                _message_rows(engine, cipher, batch, tally, True)
            _message_rows(engine, cipher, batch, tally, False)
            finish(tally)
    if redis is not None:
        tally = Tally("redis trackers", "redis")
        if write:
            _redis_trackers(redis[0], redis[1], cipher, tally, True)
        _redis_trackers(redis[0], redis[1], cipher, tally, False)
        finish(tally)
    return out
