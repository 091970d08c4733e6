from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ids import EPOCH_MS, MAX_SEQUENCE, ClockMovedBackwards, Snowflake, parse

from ..conftest import REPO


class FakeClock:
    """A controllable wall clock (time is an input of the generator, not a backend)."""

    def __init__(self, start: int) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(1, int(seconds * 1000))


@given(worker=st.integers(0, 1023), steps=st.lists(st.integers(-3, 5), min_size=1, max_size=300))
@settings(max_examples=200, deadline=None)
def test_ids_unique_increasing_and_decodable(worker: int, steps: list[int]) -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = Snowflake(worker, clock=clock, sleep=clock.sleep, max_backwards_ms=10)
    ids = []
    for step in steps:
        clock.now += step  # includes small backwards steps, which must be waited out
        ids.append(gen.next_id())
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for i in ids:
        parts = parse(i)
        assert parts.worker_id == worker
        assert 0 < i < 2**63


def test_sequence_exhaustion_waits_for_next_millisecond() -> None:
    ticks = iter([EPOCH_MS + 5] * (MAX_SEQUENCE + 2) + [EPOCH_MS + 6] * 10)
    gen = Snowflake(1, clock=lambda: next(ticks))
    ids = [gen.next_id() for _ in range(MAX_SEQUENCE + 2)]
    assert len(set(ids)) == len(ids)
    assert parse(ids[-1]).timestamp_ms == EPOCH_MS + 6
    assert parse(ids[-1]).sequence == 0


def test_clock_far_backwards_is_refused_not_duplicated() -> None:
    clock = FakeClock(EPOCH_MS + 100_000)
    gen = Snowflake(3, clock=clock, sleep=lambda s: None, max_backwards_ms=1000)
    first = gen.next_id()
    clock.now -= 5_000
    with pytest.raises(ClockMovedBackwards):
        gen.next_id()
    clock.now += 5_001
    assert gen.next_id() > first


def test_small_backwards_step_is_waited_out() -> None:
    clock = FakeClock(EPOCH_MS + 100_000)
    gen = Snowflake(3, clock=clock, sleep=clock.sleep, max_backwards_ms=1000)
    first = gen.next_id()
    clock.now -= 200
    second = gen.next_id()
    assert second > first
    assert clock.sleeps, "generator must wait, not issue an id from the past"


def test_threads_share_one_generator_without_duplicates() -> None:
    gen = Snowflake(7)
    out: list[list[int]] = [[] for _ in range(8)]

    def work(bucket: list[int]) -> None:
        for _ in range(5000):
            bucket.append(gen.next_id())

    threads = [threading.Thread(target=work, args=(b,)) for b in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [i for b in out for i in b]
    assert len(all_ids) == 40_000 == len(set(all_ids))


def test_processes_with_distinct_workers_never_collide() -> None:
    code = "from bot.ids import Snowflake; import sys; g = Snowflake(int(sys.argv[1]));" \
           "print('\\n'.join(str(g.next_id()) for _ in range(20000)))"  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(w)], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for w in (1, 2, 3, 4)
    ]
    ids = [int(line) for p in procs for line in p.communicate()[0].split()]
    assert len(ids) == 80_000 == len(set(ids))


def test_worker_id_is_validated() -> None:
    with pytest.raises(ValueError):
        Snowflake(1024)
