"""A small TCP load balancer for the multi-instance tests: one front port per service, round robin over its
backends, the next backend tried when one refuses the connection (a killed instance), a backend that refused
left out for a moment.

Layer 4 on purpose, like a cloud load balancer in TCP mode: a keep-alive connection and a WebSocket stay on the
backend they reached (sticky for as long as the connection lives). A request in flight when its backend dies
is lost with the connection, and the client sees it fail — what clients of a real deployment see.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from dataclasses import dataclass, field

DOWN_SECONDS = 1.0


@dataclass
class Pool:
    name: str
    front: int
    backends: list[int]
    down_until: dict[int, float] = field(default_factory=dict)
    connections: dict[int, int] = field(default_factory=dict)
    _turn: itertools.count = field(default_factory=itertools.count)

    def order(self) -> list[int]:
        """Backends in the order to try: round robin, the ones that just refused last."""
        start = next(self._turn) % len(self.backends)
        ring = self.backends[start:] + self.backends[:start]
        now = time.monotonic()
        return sorted(ring, key=lambda port: self.down_until.get(port, 0) > now)


class LoadBalancer:
    def __init__(self, pools: list[Pool], host: str = "127.0.0.1") -> None:
        self.pools = {p.name: p for p in pools}
        self.host = host
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.AbstractServer] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="lb", daemon=True)

    def start(self) -> LoadBalancer:
        self._thread.start()
        for pool in self.pools.values():
            fut = asyncio.run_coroutine_threadsafe(self._listen(pool), self._loop)
            self._servers.append(fut.result(timeout=5))
        return self

    def stop(self) -> None:
        for server in self._servers:
            self._loop.call_soon_threadsafe(server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _listen(self, pool: Pool) -> asyncio.AbstractServer:
        """Front port 0: the system picks a free one, written back to the pool (no race with other programs)."""
        server = await asyncio.start_server(lambda r, w: self._serve(pool, r, w), self.host, pool.front)
        pool.front = int(server.sockets[0].getsockname()[1])
        return server

    async def _serve(self, pool: Pool, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for port in pool.order():
            try:
                backend_r, backend_w = await asyncio.wait_for(asyncio.open_connection(self.host, port), 2)
            except (OSError, asyncio.TimeoutError):
                pool.down_until[port] = time.monotonic() + DOWN_SECONDS
                continue
            pool.connections[port] = pool.connections.get(port, 0) + 1
            await asyncio.gather(_pipe(client_r, backend_w), _pipe(backend_r, client_w))
            return
        client_w.close()  # no backend took it: the client sees the connection closed


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()
