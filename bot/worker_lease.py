"""Snowflake worker-id leases in the home's relational database (table ``cs_worker_lease``).

Every process of one home mints ids with its own worker id (bot/ids.py). A process claims the lowest free id in
0..1023 for ``TTL`` seconds and renews it from a daemon thread every ``RENEW_EVERY`` seconds; a lease left to
expire (a crashed or long-suspended process) may be taken over. The database settles every race:

* a free id (no row) is claimed by INSERT: the primary key lets one of two racing processes win;
* an expired row is taken over by ``UPDATE ... WHERE worker_id = :id AND expires_at < :now``: one winner again.

A holder whose renewal finds its row gone or taken leases a new id and switches to it. Ids stay unique across a
takeover: a holder keeps an id only if it was minted before its lease's deadline (checked after minting,
``CLOCK_MARGIN`` early), and a taker mints only after that deadline. Hosts sharing a MySQL database must agree on
the time within ``CLOCK_MARGIN``; Snowflake ids already assume synchronised clocks.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from bot.errors import CsbotError
from bot.ids import MAX_WORKER, Snowflake

TTL = 60.0
RENEW_EVERY = 20.0
CLOCK_MARGIN = 5.0
CLAIM_ROUNDS = 3

log = logging.getLogger(__name__)
# A Core view of cs_worker_lease (bot.storage.models.WorkerLease), not the ORM model: the Rasa server leases
# too, on SQLAlchemy 1.4, which has no 2.0-style declarative models.
LEASES = sa.table("cs_worker_lease", sa.column("worker_id"), sa.column("owner"), sa.column("expires_at"),
                  sa.column("updated_at"))


class NoFreeWorkerId(CsbotError):
    """Every worker id is held by a live process."""


@dataclass(frozen=True)
class Lease:
    worker_id: int
    owner: str
    expires_at: float  # epoch seconds


def new_owner() -> str:
    """``host:pid:random``: readable in the table, and unique even when the OS reuses a pid."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


@contextmanager
def _explained_lock() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        if "database is locked" not in str(exc):
            raise
        raise CsbotError(
            "could not write the worker-id lease: the SQLite database stayed locked. A lease written while this "
            "process holds a write transaction waits for itself; lease at process start with "
            "bot.ids.ensure_worker(settings)"
        ) from exc


class LeaseStore:
    """The SQL of leasing (claim, renew, release) on one engine, with an injectable clock (epoch seconds)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time, ttl: float = TTL) -> None:
        self.engine = engine
        self.clock = clock
        self.ttl = ttl

    def claim(self, owner: str) -> Lease:
        """The lowest worker id that has no row or an expired one, now held by ``owner``."""
        with _explained_lock():
            for _ in range(CLAIM_ROUNDS):  # ids read as free may be claimed by others before we get to them
                expiries = self._expiries()
                for worker_id in range(MAX_WORKER + 1):
                    now = self.clock()
                    expires_at = expiries.get(worker_id)
                    if expires_at is None:
                        lease = self._insert(worker_id, owner, now)
                    elif expires_at < now:
                        lease = self._take_over(worker_id, owner, now)
                    else:
                        continue
                    if lease is not None:
                        return lease
        raise NoFreeWorkerId(f"all {MAX_WORKER + 1} Snowflake worker ids are leased by live processes")

    def renew(self, lease: Lease) -> Lease | None:
        """``lease`` extended to now + TTL, or None when its row is gone or has another owner. An expired lease
        whose row still names us is renewed: no one else can have held it since (a taker rewrites the owner)."""
        now = self.clock()
        renewed = Lease(lease.worker_id, lease.owner, now + self.ttl)
        with _explained_lock(), self.engine.begin() as conn:
            hit = conn.execute(
                update(LEASES)
                .where(LEASES.c.worker_id == lease.worker_id, LEASES.c.owner == lease.owner)
                .values(expires_at=renewed.expires_at, updated_at=now)
            ).rowcount
        return renewed if hit == 1 else None

    def release(self, lease: Lease) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(
                delete(LEASES).where(LEASES.c.worker_id == lease.worker_id, LEASES.c.owner == lease.owner)
            ).rowcount
        return gone == 1

    def _expiries(self) -> dict[int, float]:
        try:
            with self.engine.connect() as conn:
                return {int(w): float(e) for w, e in conn.execute(select(LEASES.c.worker_id, LEASES.c.expires_at))}
        except DBAPIError:
            if self._has_table():
                raise
            raise CsbotError(
                f"the database has no {LEASES.name} table (its schema predates migration 0003): run `csbot db upgrade`"
            ) from None

    def _has_table(self) -> bool:
        try:
            return inspect(self.engine).has_table(LEASES.name)
        except DBAPIError:
            return True  # unreachable: let the original error speak

    def _insert(self, worker_id: int, owner: str, now: float) -> Lease | None:
        lease = Lease(worker_id, owner, now + self.ttl)
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(LEASES).values(worker_id=worker_id, owner=owner, expires_at=lease.expires_at, updated_at=now)
                )
        except IntegrityError:  # another process inserted it since we read the table
            return None
        return lease

    def _take_over(self, worker_id: int, owner: str, now: float) -> Lease | None:
        lease = Lease(worker_id, owner, now + self.ttl)
        with self.engine.begin() as conn:
            won = conn.execute(
                update(LEASES)
                .where(LEASES.c.worker_id == worker_id, LEASES.c.expires_at < now)
                .values(owner=owner, expires_at=lease.expires_at, updated_at=now)
            ).rowcount
        return lease if won == 1 else None


class LeasedSnowflake(Snowflake):
    """A Snowflake on a leased worker id: renewed by a daemon thread, replaced when lost, and never used past its
    deadline (an id minted after it is dropped, and the lease renewed or replaced first)."""

    def __init__(self, store: LeaseStore, owner: str | None = None, renew_every: float = RENEW_EVERY,
                 **snowflake: Any) -> None:  # fmt: skip
        self.store = store
        self.owner = owner or new_owner()
        self._lease = store.claim(self.owner)
        super().__init__(self._lease.worker_id, **snowflake)
        self._renew_every = renew_every
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def lease(self) -> Lease:
        return self._lease

    def next_id(self) -> int:
        while True:
            lease = self._lease
            snowflake_id = super().next_id()
            # Same lease object before and after: the id carries its worker id (a swap replaces both together).
            if self._lease is lease and self.store.clock() < lease.expires_at - CLOCK_MARGIN:
                return snowflake_id
            if self._lease is lease:  # renewals stalled (e.g. the process was suspended): settle it first
                self.refresh(lease)

    def refresh(self, current: Lease) -> None:
        """Renew ``current`` if it is still this generator's lease; if it was lost, lease a new worker id."""
        with self._refresh_lock:
            if self._lease is not current:  # another thread refreshed it meanwhile
                return
            if self._closed:
                raise CsbotError("this process gave its worker-id lease back; it mints no more ids")
            renewed = self.store.renew(current)
            if renewed is not None:
                self._lease = renewed
                return
            new = self.store.claim(self.owner)
            log.warning("lost the lease on Snowflake worker id %d (it expired, then was taken over or removed); "
                        "now using %d", current.worker_id, new.worker_id)  # fmt: skip
            with self._lock:  # worker id and lease change together, between two ids
                self.worker_id, self._lease = new.worker_id, new

    def start(self) -> LeasedSnowflake:
        self._thread = threading.Thread(target=self._renew_loop, name="worker-id-lease", daemon=True)
        self._thread.start()
        return self

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._renew_every):
            try:
                self.refresh(self._lease)
            except Exception:  # the database may be back next time; next_id() refuses ids once the lease ran out
                log.warning("could not renew the lease on Snowflake worker id %d", self.worker_id, exc_info=True)

    def close(self) -> None:
        """Stop renewing and give the worker id back; next_id() fails from now on."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with self._refresh_lock:
            if self._closed:
                return
            self._closed = True
            lease = self._lease
            self._lease = Lease(lease.worker_id, lease.owner, float("-inf"))  # sends next_id() to refresh()
        self.store.release(lease)
