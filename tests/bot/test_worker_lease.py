"""Worker-id leases (bot/worker_lease.py) on the embedded SQLite and on the machine's real MariaDB.

Time is an input (a controllable clock shared by every "process" of a test); the database is real.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, insert, select, text

from bot.errors import CsbotError
from bot.ids import parse
from bot.storage import migrate
from bot.storage.db import Database
from bot.storage.models import Base
from bot.worker_lease import (
    CLOCK_MARGIN,
    LEASES,
    TTL,
    Lease,
    LeasedSnowflake,
    LeaseStore,
    NoFreeWorkerId,
)

T0 = 1_800_000_000.123456  # sub-second on purpose: MySQL's FLOAT would round it by minutes


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_url"))
    return f"sqlite:///{tmp_path / 'cs.db'}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    db = Database(db_url)
    migrate.upgrade(db.engine)
    yield db.engine
    db.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def rows(engine: Engine) -> dict[int, tuple[str, float]]:
    with engine.connect() as conn:
        return {w: (o, e) for w, o, e in conn.execute(select(LEASES.c.worker_id, LEASES.c.owner, LEASES.c.expires_at))}


def test_claims_the_lowest_free_id_and_reuses_released_ones(engine: Engine, clock: Clock) -> None:
    store = LeaseStore(engine, clock)
    a, b, c = (store.claim(owner) for owner in ("a", "b", "c"))
    assert [a.worker_id, b.worker_id, c.worker_id] == [0, 1, 2]
    assert rows(engine)[0] == ("a", T0 + TTL)  # exact: epoch seconds keep their microseconds
    assert store.release(b) is True
    assert store.claim("d").worker_id == 1
    assert store.release(b) is False  # a lease is given back once, and only by its owner
    assert rows(engine)[1][0] == "d"


def test_live_leases_are_skipped_expired_ones_taken_over(engine: Engine, clock: Clock) -> None:
    store = LeaseStore(engine, clock)
    old = store.claim("old")  # 0, expires at T0 + 60
    clock.now += 30
    live = store.claim("live")  # 1, expires at T0 + 90
    clock.now = old.expires_at  # not yet expired: expiry is strict
    assert store.claim("early").worker_id == 2
    clock.now = old.expires_at + 1
    taker = store.claim("taker")
    assert taker.worker_id == 0 and rows(engine)[0][0] == "taker"
    assert rows(engine)[live.worker_id][0] == "live"
    assert store.renew(old) is None  # the old holder learns it lost the id
    assert store.release(old) is False and rows(engine)[0][0] == "taker"


def test_renewal_keeps_a_lease_and_an_unclaimed_expired_one(engine: Engine, clock: Clock) -> None:
    store = LeaseStore(engine, clock)
    lease = store.claim("p")
    clock.now += 50
    renewed = store.renew(lease)
    assert renewed == Lease(0, "p", clock.now + TTL)
    clock.now += 50  # past the first expiry, within the renewed one
    assert store.claim("q").worker_id == 1
    clock.now += 500  # expired, but no one took it: still ours to renew
    assert store.renew(renewed) == Lease(0, "p", clock.now + TTL)


def test_racing_claims_each_win_a_different_id(engine: Engine, clock: Clock) -> None:
    store = LeaseStore(engine, clock)
    with engine.begin() as conn:  # 0..3 expired (their processes died), so both INSERT and UPDATE race
        conn.execute(insert(LEASES), [
            {"worker_id": w, "owner": "dead", "expires_at": T0 - 1, "updated_at": T0 - TTL} for w in range(4)
        ])  # fmt: skip
    start = threading.Barrier(8)
    won: list[int] = []

    def claim(i: int) -> None:
        start.wait()
        won.append(store.claim(f"racer{i}").worker_id)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == list(range(8))
    assert {o for o, _ in rows(engine).values()} == {f"racer{i}" for i in range(8)}


def test_every_id_leased_is_an_error(engine: Engine, clock: Clock) -> None:
    with engine.begin() as conn:
        conn.execute(insert(LEASES), [
            {"worker_id": w, "owner": "busy", "expires_at": T0 + TTL, "updated_at": T0} for w in range(1024)
        ])  # fmt: skip
    with pytest.raises(NoFreeWorkerId):
        LeaseStore(engine, clock).claim("late")


def test_a_database_without_the_table_says_to_migrate(db_url: str) -> None:
    db = Database(db_url)
    migrate.upgrade(db.engine, "0002")
    with pytest.raises(CsbotError, match="csbot db upgrade"):
        LeaseStore(db.engine).claim("p")
    db.dispose()


def test_model_matches_the_migration(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "cs_worker_lease" in repr(d)] == []


def test_a_lost_lease_is_replaced_and_logged(engine: Engine, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    gen = LeasedSnowflake(LeaseStore(engine, clock), owner="suspended")
    assert gen.worker_id == 0 and parse(gen.next_id()).worker_id == 0
    clock.now += TTL + 1  # suspended past its TTL: another process takes its id over
    LeaseStore(engine, clock).claim("taker")
    with caplog.at_level(logging.WARNING, logger="bot.worker_lease"):
        gen.refresh(gen.lease)  # what the renewal thread does
    assert gen.worker_id == 1 and gen.lease.owner == "suspended"
    assert "lost the lease on Snowflake worker id 0" in caplog.text
    assert {parse(gen.next_id()).worker_id for _ in range(100)} == {1}
    assert {w: o for w, (o, _) in rows(engine).items()} == {0: "taker", 1: "suspended"}


def test_no_id_is_minted_past_the_deadline(engine: Engine, clock: Clock) -> None:
    """A resumed process mints before its renewal thread runs: the lease is settled first, synchronously."""
    gen = LeasedSnowflake(LeaseStore(engine, clock), owner="p")
    clock.now += TTL - CLOCK_MARGIN  # deadline reached, no one took the id: renewed, same worker
    assert parse(gen.next_id()).worker_id == 0
    assert gen.lease.expires_at == clock.now + TTL
    clock.now += TTL + 1
    LeaseStore(engine, clock).claim("taker")  # this time someone did: never another id from worker 0
    assert parse(gen.next_id()).worker_id == 1


def test_renewal_thread_and_release(engine: Engine, clock: Clock) -> None:
    gen = LeasedSnowflake(LeaseStore(engine, clock), owner="p", renew_every=0.02).start()
    clock.now += 30
    deadline = time.monotonic() + 10
    while rows(engine)[0][1] != clock.now + TTL and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rows(engine)[0][1] == clock.now + TTL == gen.lease.expires_at
    gen.close()
    assert rows(engine) == {}
    assert gen._thread is not None and not gen._thread.is_alive()
    with pytest.raises(CsbotError, match="gave its worker-id lease back"):
        gen.next_id()
    gen.close()  # idempotent


def test_a_lease_waiting_on_this_process_own_sqlite_write_lock_fails_clearly(tmp_path: Path) -> None:
    """The SQLite hazard at the store level: a lease written while another connection holds the write lock."""
    url = f"sqlite:///{tmp_path / 'cs.db'}"
    db = Database(url)
    migrate.upgrade(db.engine)
    impatient = create_engine(url, connect_args={"timeout": 0.2})  # the real busy timeout is 30 s
    try:
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO cs_audit_log (audit_id, tenant_id, action) VALUES (1, 't', 'x')"))
            with pytest.raises(CsbotError, match="ensure_worker"):
                LeaseStore(impatient).claim("p")
    finally:
        impatient.dispose()
        db.dispose()
