"""Wakes the WebSockets of the agents a change concerns. The service runs in worker threads and writes feed
rows; this only says "look again" to the right sockets, so order and resumption come from the feed's
``seq``, never from the wake-up.

With several handoff instances (``presence: redis``) a change made on one must wake sockets held by another:
each wake-up is also published on a Redis channel every instance listens to. Without that, sockets would
only notice by polling their feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from typing import Any

log = logging.getLogger(__name__)
CHANNEL = "csbot:handoff:wake"

Key = tuple[str, int | None]


class Hub:
    def __init__(self, redis_url: str | None = None) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        # (tenant, agent id) → events of that agent's sockets; supervisors also listen on (tenant, None)
        self._waiters: dict[Key, set[asyncio.Event]] = defaultdict(set)
        self.redis_url = redis_url
        self._me = uuid.uuid4().hex
        self._publisher: Any = None
        self._listener: asyncio.Task[None] | None = None

    @property
    def shared(self) -> bool:
        return self.redis_url is not None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        if self.redis_url:
            import redis

            self._publisher = redis.Redis.from_url(self.redis_url, socket_timeout=2.0)
            self._listener = loop.create_task(self._listen())

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._publisher is not None:
            self._publisher.close()

    def subscribe(self, keys: list[Key]) -> asyncio.Event:
        ev = asyncio.Event()
        for k in keys:
            self._waiters[k].add(ev)
        return ev

    def unsubscribe(self, keys: list[Key], ev: asyncio.Event) -> None:
        for k in keys:
            self._waiters[k].discard(ev)
            if not self._waiters[k]:
                self._waiters.pop(k, None)

    def notify(self, who: set[Key]) -> None:
        """Thread-safe: called from the service's worker threads after a commit."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake, set(who))
        if self._publisher is not None:
            try:
                self._publisher.publish(CHANNEL, json.dumps({"from": self._me, "who": [list(k) for k in who]}))
            except Exception:  # another instance's sockets will see it at their next safety poll
                log.warning("could not publish a handoff wake-up", exc_info=True)

    def _wake(self, who: set[Key]) -> None:
        for k in who:
            for ev in self._waiters.get(k, ()):
                ev.set()

    async def _listen(self) -> None:
        import redis.asyncio as aioredis

        while True:
            try:
                client = aioredis.Redis.from_url(self.redis_url)
                async with client.pubsub() as ps:
                    await ps.subscribe(CHANNEL)
                    async for msg in ps.listen():
                        if msg.get("type") != "message":
                            continue
                        data = json.loads(msg["data"])
                        if data.get("from") != self._me:
                            self._wake({(str(t), None if a is None else int(a)) for t, a in data["who"]})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("handoff wake-up channel lost; reconnecting", exc_info=True)
                await asyncio.sleep(1)
