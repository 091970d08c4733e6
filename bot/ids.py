"""Snowflake ids (seed §6): 64-bit, time-ordered, unique across processes by worker id.

Layout (most significant first): 1 sign bit (0) | 41 bits milliseconds since EPOCH_MS | 10 bits worker |
12 bits sequence. 4096 ids per millisecond per worker; ~69 years of range.

Each process (or Rasa/action/handoff instance) must run with its own ``ids.worker_id``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

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


_default: Snowflake | None = None
_default_lock = threading.Lock()


def configure(worker_id: int) -> Snowflake:
    global _default
    with _default_lock:
        _default = Snowflake(worker_id)
        return _default


def new_id() -> int:
    """An id from the process-wide generator (configured from settings by each service at start)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                from bot.settings import load_settings

                _default = Snowflake(load_settings().worker_id)
    return _default.next_id()
