"""Wakes the WebSockets of the agents a change concerns. The service runs in worker threads and writes feed
rows; this only says "look again" to the right sockets on the event loop, so order and resumption come from
the feed's ``seq``, never from the wake-up."""

from __future__ import annotations

import asyncio
from collections import defaultdict


class Hub:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        # (tenant, agent id) → events of that agent's sockets; supervisors also listen on (tenant, None)
        self._waiters: dict[tuple[str, int | None], set[asyncio.Event]] = defaultdict(set)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def subscribe(self, keys: list[tuple[str, int | None]]) -> asyncio.Event:
        ev = asyncio.Event()
        for k in keys:
            self._waiters[k].add(ev)
        return ev

    def unsubscribe(self, keys: list[tuple[str, int | None]], ev: asyncio.Event) -> None:
        for k in keys:
            self._waiters[k].discard(ev)
            if not self._waiters[k]:
                self._waiters.pop(k, None)

    def notify(self, who: set[tuple[str, int | None]]) -> None:
        """Thread-safe: called from the service's worker threads after a commit."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._wake, set(who))

    def _wake(self, who: set[tuple[str, int | None]]) -> None:
        for k in who:
            for ev in self._waiters.get(k, ()):
                ev.set()
