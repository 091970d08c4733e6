"""Snowflake ids (seed §6): 64-bit, time-ordered, unique across processes by worker id.

Layout (most significant first): 1 sign bit (0) | 41 bits milliseconds since EPOCH_MS | 10 bits worker |
12 bits sequence. 4096 ids per millisecond per worker; ~69 years of range.

Each process needs its own worker id. ``ids.worker_id: auto`` (the default) leases a free one from the home's
database (bot/worker_lease.py); an integer pins it, and keeping pinned ids apart is then the operator's job.

Lease at process start with :func:`ensure_worker` (bot/serve.py and the ``csbot`` CLI do), not on the first
:func:`new_id`: ids are minted inside open write transactions, and on SQLite a lease written from another
connection of the same process waits for that transaction's lock (the busy timeout, then an error). The lazy
fallback in new_id() is for processes that never call ensure_worker(); on SQLite it is only safe outside a
write transaction (tests/bot/test_ids.py reproduces the hazard).

This module imports no SQLAlchemy (the Rasa server's Python 3.10 environment imports it): leasing is lazy.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings
    from bot.storage.db import Database

EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
TIMESTAMP_SHIFT = WORKER_BITS + SEQUENCE_BITS


class ClockMovedBackwards(RuntimeError):
    """The wall clock went back further than we are willing to wait out."""


@dataclass(frozen=True)
class SnowflakeParts:
    timestamp_ms: int
    worker_id: int
    sequence: int


class Snowflake:
    """Thread-safe generator. A clock step back up to ``max_backwards_ms`` is waited out; more is refused."""

    def __init__(
        self,
        worker_id: int,
        clock: Callable[[], int] | None = None,
        max_backwards_ms: int = 1000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0 <= worker_id <= MAX_WORKER:
            raise ValueError(f"worker_id must be 0..{MAX_WORKER}, got {worker_id}")
        self.worker_id = worker_id
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._sleep = sleep
        self._max_back = max_backwards_ms
        self._lock = threading.Lock()
        self._last_ms = -1
        self._seq = 0

    def _now(self) -> int:
        now = self._clock()
        if now < EPOCH_MS:
            raise ClockMovedBackwards(f"clock {now} is before the id epoch")
        return now

    def next_id(self) -> int:
        with self._lock:
            now = self._now()
            if now < self._last_ms:
                behind = self._last_ms - now
                if behind > self._max_back:
                    raise ClockMovedBackwards(f"clock moved back {behind} ms; refusing to issue ids")
                while now < self._last_ms:
                    self._sleep(min(behind, 50) / 1000)
                    now = self._now()
                    behind = self._last_ms - now
                    if behind > self._max_back:
                        raise ClockMovedBackwards(f"clock moved back {behind} ms; refusing to issue ids")
            if now == self._last_ms:
                self._seq = (self._seq + 1) & MAX_SEQUENCE
                if self._seq == 0:  # sequence exhausted in this ms: wait for the next one
                    while now <= self._last_ms:
                        now = self._now()
            else:
                self._seq = 0
            self._last_ms = now
            return ((now - EPOCH_MS) << TIMESTAMP_SHIFT) | (self.worker_id << SEQUENCE_BITS) | self._seq


def parse(snowflake_id: int) -> SnowflakeParts:
    return SnowflakeParts(
        timestamp_ms=(snowflake_id >> TIMESTAMP_SHIFT) + EPOCH_MS,
        worker_id=(snowflake_id >> SEQUENCE_BITS) & MAX_WORKER,
        sequence=snowflake_id & MAX_SEQUENCE,
    )


_default: Snowflake | None = None  # the process-wide generator; a LeasedSnowflake when leased
_lease_db: Database | None = None  # the leased generator's database, disposed on release
_default_lock = threading.Lock()


def configure(worker_id: int) -> Snowflake:
    """Pin the process-wide generator to ``worker_id`` (giving a leased worker id back first)."""
    global _default
    release_worker()
    with _default_lock:
        _default = Snowflake(worker_id)
        return _default


def ensure_worker(settings: Settings) -> Snowflake:
    """The process-wide generator, configured once: a pinned ``ids.worker_id`` as is, ``auto`` by leasing the
    lowest free worker id from the database (renewed in the background, given back at exit). Later calls
    return the same generator."""
    global _default, _lease_db
    with _default_lock:
        if _default is not None:
            return _default
        if settings.worker_id is not None:
            _default = Snowflake(settings.worker_id)
            return _default
        from bot.storage.db import Database
        from bot.worker_lease import LeasedSnowflake, LeaseStore

        db = Database.from_settings(settings)
        try:
            _default = LeasedSnowflake(LeaseStore(db.engine)).start()
        except BaseException:
            db.dispose()
            raise
        _lease_db = db
        return _default


def release_worker() -> None:
    """Give a leased worker id back and forget the generator (at exit; tests). The next new_id() configures
    again from settings."""
    global _default, _lease_db
    with _default_lock:
        gen, db = _default, _lease_db
        _default = _lease_db = None
    if db is None:
        return
    from bot.worker_lease import LeasedSnowflake

    try:
        if isinstance(gen, LeasedSnowflake):
            gen.close()
    finally:
        db.dispose()


def new_id() -> int:
    """An id from the process-wide generator, configured from settings on first use if the process did not
    call ensure_worker() at start (see the module docstring for why it should)."""
    gen = _default
    if gen is None:
        from bot.settings import load_settings

        gen = ensure_worker(load_settings())
    return gen.next_id()


def _release_at_exit() -> None:
    try:
        release_worker()
    except Exception as exc:  # the database may be gone already; the lease then just expires after its TTL
        logging.getLogger(__name__).warning("could not give the worker-id lease back: %s", exc)


def _forget_in_child() -> None:
    """A forked child must not mint with its parent's worker id: it leases its own on first use."""
    global _default, _lease_db, _default_lock
    _default_lock = threading.Lock()  # another thread may have held it at the fork
    if _lease_db is not None:
        _lease_db.engine.dispose(close=False)  # the parent's pooled connections are not the child's to close
        _default = _lease_db = None


atexit.register(_release_at_exit)
os.register_at_fork(after_in_child=_forget_in_child)
