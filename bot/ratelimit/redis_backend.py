"""Rate limiter shared by every app instance through Redis (5 or later): one atomic Lua script per hit."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from bot.errors import ConfigError
from bot.ratelimit import SECTION, Decision, Rate, storage_key

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "csbot:rl"
DEFAULT_TIMEOUT = 0.5  # seconds; a limiter that makes a chat reply wait longer than this is worse than none
# After a failure, skip Redis this long: each hit would otherwise pay a connect timeout while it is down.
_PAUSE_AFTER_FAILURE = 1.0
_WARN_EVERY = 60.0

# The GCRA of memory.py in whole µs (exact in Lua's doubles). The clock is Redis's, so every app instance agrees.
# KEYS[1]: the bucket; ARGV[1]: µs one hit costs; ARGV[2]: µs the bucket may run ahead of now.
_SCRIPT = """
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local ahead = tat + interval - now
if ahead > burst then
  return {0, 0, ahead - burst}
end
-- expires when the bucket is full again: by then the key says nothing a missing key doesn't
redis.call('SET', KEYS[1], string.format('%d', tat + interval), 'PX', math.ceil(ahead / 1000))
return {1, math.floor((burst - ahead) / interval), 0}
"""
_SHA = hashlib.sha1(_SCRIPT.encode()).hexdigest()


class RedisRateLimiter:
    def __init__(
        self, url: str, key_prefix: str = DEFAULT_PREFIX, timeout: float = DEFAULT_TIMEOUT, max_connections: int = 50
    ) -> None:
        self.key_prefix = key_prefix
        try:
            # A blocking pool: a burst waits for a free connection (redis-py 8's plain pool raises past 100).
            # No retries: a hit is cheap to fail open, and redis-py's default backoff would hold a reply seconds.
            self._pool = BlockingConnectionPool.from_url(
                url, max_connections=max_connections, timeout=timeout, socket_timeout=timeout,
                socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0),
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(f"{SECTION}.url", "a Redis URL like redis://127.0.0.1:6379/0", f"{url} ({exc})") from None
        self._redis: Any = Redis(connection_pool=self._pool)
        self._paused_until = 0.0
        self._warned_at = -math.inf

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RedisRateLimiter:
        url = options.get("url")
        if not isinstance(url, str) or not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"{SECTION}.url", "a Redis URL like redis://127.0.0.1:6379/0", url)
        prefix = options.get("key_prefix", DEFAULT_PREFIX)
        if not isinstance(prefix, str) or not prefix:
            raise ConfigError(f"{SECTION}.key_prefix", "a non-empty string", prefix)
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
            raise ConfigError(f"{SECTION}.timeout", "a positive number of seconds", timeout)
        max_connections = options.get("max_connections", 50)
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigError(f"{SECTION}.max_connections", "a positive integer", max_connections)
        return cls(url, prefix, float(timeout), max_connections)

    async def hit(self, key: str, rate: Rate) -> Decision:
        # Fail OPEN: when the limiter's store is down, a customer-service chat would rather answer everyone for a
        # while than refuse everyone; the limiter guards against abuse, it is not what keeps the service up.
        if time.monotonic() < self._paused_until:
            return Decision(True, rate.count - 1, 0.0)
        interval, burst = rate.gcra_steps()
        name = f"{self.key_prefix}:{storage_key(key)}".encode("utf-8", "surrogatepass")
        try:
            allowed, remaining, wait_us = await self._run(name, interval, burst)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._failed(exc)
            return Decision(True, rate.count - 1, 0.0)
        return Decision(bool(allowed), int(remaining), int(wait_us) / 1_000_000)

    async def _run(self, name: bytes, interval: int, burst: int) -> list[int]:
        try:
            return await self._redis.evalsha(_SHA, 1, name, interval, burst)  # type: ignore[no-any-return]
        except NoScriptError:
            # first use on this server, or after a restart / SCRIPT FLUSH; EVAL caches it for the next EVALSHA
            return await self._redis.eval(_SCRIPT, 1, name, interval, burst)  # type: ignore[no-any-return]

    def _failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._paused_until = now + _PAUSE_AFTER_FAILURE
        if now - self._warned_at >= _WARN_EVERY:
            self._warned_at = now
            log.warning("rate limiter: Redis unavailable (%s); allowing every hit until it is back", exc)

    async def close(self) -> None:
        close = getattr(self._redis, "aclose", None) or self._redis.close  # aclose: redis-py 5+; 4.6 has close
        await close()
        await self._pool.disconnect()  # a pool passed in is not closed with the client
