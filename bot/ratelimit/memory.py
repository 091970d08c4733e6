"""In-process rate limiter: the embedded default, right for one process (each process keeps its own counts)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from bot.errors import ConfigError
from bot.ratelimit import SECTION, Decision, Rate, storage_key

DEFAULT_MAX_KEYS = 100_000
# Idle keys looked at per hit: more than the one key a hit can add, so idle keys drain faster than they come.
_SWEEP = 2


class MemoryRateLimiter:
    """GCRA per key: the map holds each key's theoretical arrival time (TAT) in µs, least recently hit first.

    A key whose TAT has passed has a full bucket again, so forgetting it changes nothing; each hit drops a few
    such keys from the old end, and past ``max_keys`` the least recently hit key goes whatever its state.
    """

    def __init__(self, max_keys: int = DEFAULT_MAX_KEYS, clock: Callable[[], float] = time.monotonic) -> None:
        if max_keys < 1:
            raise ConfigError(f"{SECTION}.max_keys", "a positive integer", max_keys)
        self.max_keys = max_keys
        self._clock = clock
        self._tat: OrderedDict[str, int] = OrderedDict()
        # hit() never awaits, so it is atomic for asyncio; the lock covers callers on other threads.
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> MemoryRateLimiter:
        max_keys = options.get("max_keys", DEFAULT_MAX_KEYS)
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 1:
            raise ConfigError(f"{SECTION}.max_keys", "a positive integer", max_keys)
        return cls(max_keys=max_keys)

    def __len__(self) -> int:
        return len(self._tat)

    async def hit(self, key: str, rate: Rate) -> Decision:
        interval, burst = rate.gcra_steps()
        skey = storage_key(key)
        with self._lock:
            now = round(self._clock() * 1_000_000)
            tat = max(self._tat.get(skey, now), now)
            ahead = tat + interval - now
            allowed = ahead <= burst
            if allowed:
                self._tat[skey] = tat + interval
            self._tat.move_to_end(skey)  # a refused key is present: its TAT is ahead of now
            self._evict(now)
        if allowed:
            return Decision(True, (burst - ahead) // interval, 0.0)
        return Decision(False, 0, (ahead - burst) / 1_000_000)

    def _evict(self, now: int) -> None:
        for _ in range(_SWEEP):
            oldest, tat = next(iter(self._tat.items()))
            if tat > now:
                break
            del self._tat[oldest]
        while len(self._tat) > self.max_keys:
            self._tat.popitem(last=False)

    async def close(self) -> None:
        with self._lock:
            self._tat.clear()
