"""Rate limiting behind one small Protocol, the backend chosen by ``rate_limit.type`` (memory, redis, or a dotted
class path), like Rasa's event brokers.

Both built-in backends run the same GCRA (a token bucket kept as one timestamp): a burst of ``count`` hits, then one
more every ``seconds / count``. Time is whole microseconds so both backends do exact integer arithmetic (a float
bucket lets rounding refuse the last hit of a burst).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.errors import ConfigError
from bot.settings import Backend

SECTION = "rate_limit"
BUILTIN: Mapping[str, str] = {
    "memory": "bot.ratelimit.memory.MemoryRateLimiter",
    "redis": "bot.ratelimit.redis_backend.RedisRateLimiter",
}

_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}
_RATE_RE = re.compile(r"(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|min|h)")
# Longer keys are stored as their digest, so an attacker-chosen sender id can't make one bucket cost megabytes.
_MAX_KEY_CHARS = 200


@dataclass(frozen=True)
class Rate:
    """At most ``count`` hits per ``seconds``, as a burst or spread out."""

    count: int
    seconds: float

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ConfigError("rate.count", "a positive integer", self.count)
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or not self.seconds > 0:
            raise ConfigError("rate.seconds", "a positive number of seconds", self.seconds)

    @classmethod
    def parse(cls, text: str, key: str = "rate") -> Rate:
        """``"20/10s"``, ``"5/s"``, ``"100/min"``, ``"1000/h"``; ``key`` names the setting in the error."""
        expected = "a rate like 20/10s, 5/s, 100/min or 1000/h"
        match = _RATE_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ConfigError(key, expected, text)
        count, amount, unit = int(match[1]), float(match[2] or 1), match[3]
        if count < 1 or amount <= 0:
            raise ConfigError(key, expected, text)
        return cls(count, amount * _UNITS[unit])

    def gcra_steps(self) -> tuple[int, int]:
        """(µs one hit costs, µs the bucket may run ahead of now) for the built-in backends. The cost is
        rounded down (refill at most 1 µs per hit early) so that exactly ``count`` hits fit in a burst."""
        interval = max(1, round(self.seconds * 1_000_000) // self.count)
        return interval, interval * self.count


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int  # hits still allowed right now
    retry_after: float  # seconds until the next hit would be allowed; 0.0 when allowed


@runtime_checkable
class RateLimiter(Protocol):
    async def hit(self, key: str, rate: Rate) -> Decision:
        """Count one hit on ``key`` if ``rate`` allows it. Use one key namespace per rate."""
        ...

    async def close(self) -> None: ...


def storage_key(key: str) -> str:
    """The key as a backend stores it: itself, or its SHA-256 when long (separate prefixes: no collisions)."""
    if len(key) <= _MAX_KEY_CHARS:
        return "=" + key
    return "#" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_rate_limiter(backend: Backend) -> RateLimiter:
    """The limiter ``backend.type`` names; the backend module is imported only when chosen."""
    from bot.plugins import load_class

    cls = load_class(backend.type, SECTION, BUILTIN)
    limiter = cls.from_options(backend.options)
    if not isinstance(limiter, RateLimiter):
        raise ConfigError(f"{SECTION}.type", "a class whose instances have hit() and close()", backend.type)
    return limiter
