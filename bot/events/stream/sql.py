"""The embedded stream: reader groups walking the outbox tables by ``seq`` (``events.type: sql``).

Positions live in the platform database (``cs_stream_offset``). A writer's ``seq`` is taken when it inserts,
not when it commits, so on MySQL a later ``seq`` can become visible before an earlier one: a reader stops at
a hole and waits up to ``gap_seconds`` for it to fill before taking it for a rolled-back insert. (SQLite has
one writer at a time and AUTOINCREMENT, so it has no holes.) Rows are purged once every group has passed
them and they are older than ``keep_seconds``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from bot.crypto import Cipher, SealError, cipher_from_settings
from bot.events.stream import Record
from bot.events.table import outbox
from bot.storage.db import make_engine
from bot.storage.models import StreamOffset
from bot.storage.sealed import OUTBOX

log = logging.getLogger(__name__)

GAP_SECONDS = 10.0
IDLE_SLEEP = 0.02
MAX_IDLE_SLEEP = 0.2


class OutboxConsumer:
    def __init__(self, group: str, sources: dict[str, Engine], offsets: Engine, kinds: Sequence[str],
                 gap_seconds: float = GAP_SECONDS, clock: Any = time.monotonic,
                 cipher: Cipher | None = None) -> None:  # fmt: skip
        self.group = group
        self.cipher = cipher  # opens the bodies sealed at rest (bot.events.outbox)
        self.sources = sources
        self.offsets = offsets
        self.kinds = frozenset(kinds)
        self.gap_seconds = gap_seconds
        self._clock = clock
        self._positions = self._load_positions()
        self._scanned: dict[str, int] = {}  # where the last poll got to, per source: committed by commit()
        self._holes: dict[tuple[str, int], float] = {}  # (source, missing seq) → first seen
        self._owned: list[Engine] = []

    @classmethod
    def from_settings(cls, settings: Any, group: str, kinds: Sequence[str]) -> OutboxConsumer:
        from bot.events.stream import outbox_sources
        from bot.events.table import metadata

        engines = {name: make_engine(url) for name, url in outbox_sources(settings).items()}
        for name, engine in engines.items():
            if name != "platform":  # Rasa's database: its tracker store makes the table too, whoever is first
                metadata.create_all(engine, checkfirst=True)
        options = settings.backend("events")
        consumer = cls(group, engines, engines["platform"], kinds, float(options.get("gap_seconds", GAP_SECONDS)),
                       cipher=cipher_from_settings(settings))  # fmt: skip
        consumer._owned = list(engines.values())
        return consumer

    def _load_positions(self) -> dict[str, int]:
        with self.offsets.connect() as conn:
            rows = conn.execute(select(StreamOffset.source, StreamOffset.position)
                                .where(StreamOffset.group_name == self.group)).all()  # fmt: skip
        found = {r.source: int(r.position) for r in rows}
        return {name: found.get(name, 0) for name in self.sources}

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        deadline, idle = time.monotonic() + timeout, IDLE_SLEEP
        while True:
            out: list[Record] = []
            for name in self.sources:
                if len(out) >= max_records:
                    break
                out += self._read(name, max_records - len(out))
            if out or time.monotonic() >= deadline:
                return out
            time.sleep(min(idle, max(0.0, deadline - time.monotonic())))
            idle = min(idle * 2, MAX_IDLE_SLEEP)  # a quiet stream is asked less often, a busy one at once

    def _read(self, name: str, limit: int) -> list[Record]:
        start = self._scanned.get(name, self._positions[name])
        t = outbox.c
        with self.sources[name].connect() as conn:
            rows = conn.execute(select(t.seq, t.kind, t.stream_key, t.body, t.tenant_id, t.event_id)
                                .where(t.seq > start).order_by(t.seq).limit(limit)).all()  # fmt: skip
        out, expect, now, fresh = [], start + 1, self._clock(), start == 0
        for i, r in enumerate(rows):
            if r.seq != expect and not (fresh and i == 0):  # a new group starts wherever the outbox starts
                # a hole: an earlier insert not committed yet, or rolled back (or purged before a new group)
                first = self._holes.setdefault((name, expect), now)
                if now - first < self.gap_seconds:
                    break
                self._holes.pop((name, expect), None)
            expect = r.seq + 1
            start = r.seq
            if r.kind in self.kinds:
                out.append(Record(name, r.seq, r.stream_key, self._open(r).encode(), r.kind))
        self._scanned[name] = start
        return out

    def _open(self, row: Any) -> str:
        """The body of an outbox row, opened; one that does not open goes on as it is, and its reader parks it
        as not an event (the dead letters keep it, sealed)."""
        try:
            return str(OUTBOX.open(self.cipher, row.body, row._mapping))
        except SealError as exc:
            log.error("outbox row %s of %s does not open: %s", row.seq, row.tenant_id, exc)
            return str(row.body)

    def commit(self, records: Sequence[Record] = ()) -> None:
        """Remember everything the polls so far handed out (and what they skipped as other kinds)."""
        now = time.time()
        changed = {k: v for k, v in self._scanned.items() if v > self._positions.get(k, 0)}
        if not changed:
            return
        with self.offsets.begin() as conn:
            for source, position in changed.items():
                updated = conn.execute(StreamOffset.__table__.update()
                                       .where(StreamOffset.group_name == self.group, StreamOffset.source == source)
                                       .values(position=position, updated_at=now)).rowcount  # fmt: skip
                if not updated:
                    conn.execute(StreamOffset.__table__.insert().values(group_name=self.group, source=source,
                                                                        position=position, updated_at=now))  # fmt: skip
        self._positions.update(changed)

    def rewind(self) -> None:
        """Forget what was polled but not committed (a failed batch is read again)."""
        self._scanned.clear()
        self._holes.clear()

    def positions(self) -> dict[str, int]:
        """The committed position per source."""
        return dict(self._positions)

    def seek(self, positions: dict[str, int]) -> None:
        """Read again from ``positions`` (lower than the committed ones: a writer downstream lost records)."""
        self._scanned.clear()
        self._holes.clear()
        self._positions.update({k: v for k, v in positions.items() if k in self.sources})
        now = time.time()
        with self.offsets.begin() as conn:
            for source, position in positions.items():
                conn.execute(StreamOffset.__table__.update()
                             .where(StreamOffset.group_name == self.group, StreamOffset.source == source)
                             .values(position=position, updated_at=now))  # fmt: skip

    def lag(self) -> int | None:
        total = 0
        for name, engine in self.sources.items():
            with engine.connect() as conn:
                top = conn.execute(select(func.max(outbox.c.seq))).scalar() or 0
            total += max(0, int(top) - self._positions.get(name, 0))
        return total

    def purge(self, keep_seconds: float) -> int:
        """Delete outbox rows every group has passed and older than ``keep_seconds``; returns how many."""
        cut, removed = time.time() - keep_seconds, 0
        with self.offsets.connect() as conn:
            floor = dict(conn.execute(select(StreamOffset.source, func.min(StreamOffset.position))
                                      .group_by(StreamOffset.source)).all())  # fmt: skip
        for name, engine in self.sources.items():
            upto = min(int(floor.get(name, 0)), self._positions.get(name, 0))
            if upto <= 0:
                continue
            with engine.begin() as conn:
                removed += conn.execute(delete(outbox).where(outbox.c.seq <= upto, outbox.c.created_at < cut)).rowcount
        return removed

    def close(self) -> None:
        for engine in self._owned:
            engine.dispose()
