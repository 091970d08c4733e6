"""One access token per WeChat account, shared by every Rasa instance that serves it.

WeChat's ``stable_token`` hands every caller the same token until it nears expiry, but a *forced* refresh
(needed after 40001/42001) replaces it for everyone and is rationed per day; N instances each forcing a
refresh when the token goes bad would waste the ration and invalidate each other's fresh tokens. So:

* the token lives in one place (``RedisTokens`` when the lock store is Redis, else ``LocalTokens``), with
  its expiry 5 minutes early;
* one holder refreshes at a time (a Redis ``SET NX`` lease); the others wait for the new value;
* a refresh forced by an error happens only if the stored token is still the one WeChat refused: a token
  some other instance has already replaced is simply used.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

# fetch(force) → (token, seconds it is valid for)
Fetch = Callable[[bool], Awaitable[tuple[str, float]]]
EARLY_SECONDS = 300.0
LEASE_SECONDS = 10.0


class TokenStore(Protocol):
    async def get(self, fetch: Fetch, refused: str | None = None) -> str:
        """A valid token; ``refused``: the one WeChat just called invalid (replace it unless already done)."""
        ...

    async def close(self) -> None: ...


def _ttl(valid_for: float) -> float:
    return max(60.0, valid_for - EARLY_SECONDS)


class LocalTokens:
    """In this process (one Rasa instance per account)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._token: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def get(self, fetch: Fetch, refused: str | None = None) -> str:
        async with self._lock:
            if self._token and self._token != refused and self.clock() < self._until:
                return self._token
            token, valid_for = await fetch(refused is not None and self._token == refused)
            self._token, self._until = token, self.clock() + _ttl(valid_for)
            return token

    async def close(self) -> None:
        pass


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class RedisTokens:
    """In Redis, shared by the instances: ``csbot:wechat:token:{app_id}`` with a TTL, and a refresh lease."""

    def __init__(self, url: str, app_id: str, poll_seconds: float = 0.05) -> None:
        import redis.asyncio as aioredis

        self._r: Any = aioredis.from_url(url, decode_responses=True)
        self.key, self.lease = f"csbot:wechat:token:{app_id}", f"csbot:wechat:token-lease:{app_id}"
        self.poll = poll_seconds

    async def get(self, fetch: Fetch, refused: str | None = None) -> str:
        deadline = time.monotonic() + LEASE_SECONDS
        while True:
            current = await self._r.get(self.key)
            if current and current != refused:
                return str(current)
            me = secrets.token_hex(8)
            if await self._r.set(self.lease, me, nx=True, px=int(LEASE_SECONDS * 1000)):
                try:
                    current = await self._r.get(self.key)  # someone may have finished just before the lease
                    if current and current != refused:
                        return str(current)
                    token, valid_for = await fetch(refused is not None and current == refused)
                    await self._r.set(self.key, token, px=int(_ttl(valid_for) * 1000))
                    return token
                finally:
                    await self._r.eval(_RELEASE, 1, self.lease, me)
            if time.monotonic() > deadline:  # the holder died mid-refresh: its lease expires, try again
                deadline = time.monotonic() + LEASE_SECONDS
            await asyncio.sleep(self.poll)

    async def close(self) -> None:
        close = getattr(self._r, "aclose", None) or self._r.close  # redis 4.6 in the Rasa runtime has close()
        await close()
