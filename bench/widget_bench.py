"""Web chat load benchmark (not a test): N socket.io customers on one Rasa process, each sending a message every
few seconds, the way the web chat page does. Prints JSON.

* connect: time to ``session_confirm`` for each of the N connections (opened ``--ramp`` at a time)
* reply: from ``user_uttered`` to the first ``bot_uttered`` for that message (p50/p95/p99), over ``--seconds``
* lost: messages with no reply within 15 s
* memory: the Rasa process's RSS before the first connection and with all N connected (growth per connection)

The customers run in this process (Socket.IO v5 over ``websockets``, as the page's own client speaks it): on a
2-core machine they share the CPU with the platform, so the numbers are an upper bound on what the server alone
costs.

    python -m bench.widget_bench [--connections 500] [--every 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import websockets

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu  # noqa: E402
from tests.platform import start_platform  # noqa: E402

MESSAGES = ["你好", "在吗", "怎么退货", "运费谁出", "谢谢", "多久发货", "可以开发票吗", "好的"]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


class Customer:
    """One web chat customer speaking Socket.IO v5 over a WebSocket (what the page's own client does)."""

    def __init__(self, url: str) -> None:
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.ws: Any = None
        self.session = ""
        self.replies: asyncio.Queue[float] = asyncio.Queue()
        self.confirmed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def _pump(self) -> None:
        async for raw in self.ws:
            if raw == "2":  # engine.io ping
                await self.ws.send("3")
            elif raw.startswith("42"):
                name, data = json.loads(raw[2:])[:2]
                if name == "session_confirm" and not self.confirmed.done():
                    self.confirmed.set_result(data["session_id"])
                elif name == "bot_uttered":
                    self.on_bot(data, time.perf_counter())

    def on_bot(self, data: dict[str, Any], at: float) -> None:
        self.replies.put_nowait(at)

    async def emit(self, name: str, data: dict[str, Any]) -> None:
        await self.ws.send("42" + json.dumps([name, data], ensure_ascii=False))

    async def connect(self) -> float:
        started = time.perf_counter()
        self.ws = await websockets.connect(self.url, max_size=2**20, open_timeout=30)
        json.loads((await self.ws.recv())[1:])  # engine.io open
        await self.ws.send("40")
        await self.ws.recv()  # socket.io connect
        self.pump = asyncio.create_task(self._pump())
        await self.emit("session_request", {})
        self.session = await asyncio.wait_for(self.confirmed, 30)
        return (time.perf_counter() - started) * 1000

    async def run(self, every: float, until: float, latencies: list[float], lost: list[int]) -> None:
        await asyncio.sleep(random.uniform(0, every))  # spread the first messages over the interval
        while time.perf_counter() < until:
            while not self.replies.empty():
                self.replies.get_nowait()  # the second line of a two-line answer belongs to the last message
            sent = time.perf_counter()
            await self.emit("user_uttered", {"message": random.choice(MESSAGES), "session_id": self.session})
            try:
                latencies.append((await asyncio.wait_for(self.replies.get(), 15) - sent) * 1000)
            except asyncio.TimeoutError:
                lost.append(1)
            await asyncio.sleep(max(0.0, every - (time.perf_counter() - sent)) * random.uniform(0.8, 1.2))

    async def close(self) -> None:
        self.pump.cancel()
        await self.ws.close()


def rasa_rss_mb(home: Path) -> float:
    pid = json.loads((home / "run" / "status.json").read_text())["services"]["rasa"]["pid"]
    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20


async def load(url: str, home: Path, n: int, ramp: int, every: float, seconds: float) -> dict[str, Any]:
    rss_before = rasa_rss_mb(home)
    customers = [Customer(url) for _ in range(n)]
    connect_ms: list[float] = []
    failed = 0
    for i in range(0, n, ramp):
        results = await asyncio.gather(*(c.connect() for c in customers[i:i + ramp]), return_exceptions=True)
        connect_ms += [r for r in results if isinstance(r, float)]
        failed += sum(1 for r in results if not isinstance(r, float))
        for r in results:
            if not isinstance(r, float):
                print(f"connect failed: {r!r}", file=sys.stderr)
                break
    await asyncio.sleep(2)
    rss_connected = rasa_rss_mb(home)
    latencies: list[float] = []
    lost: list[int] = []
    until = time.perf_counter() + seconds
    alive = [c for c in customers if c.session]
    await asyncio.gather(*(c.run(every, until, latencies, lost) for c in alive))
    rss_after = rasa_rss_mb(home)
    await asyncio.gather(*(c.close() for c in alive), return_exceptions=True)
    return {
        "connections": n, "connected": len(alive), "connect_failed": failed,
        "connect_ms": {"p50": pct(connect_ms, 50), "p99": pct(connect_ms, 99)},
        "messages_every_s": every, "seconds": seconds, "replies": len(latencies), "lost": len(lost),
        "messages_per_s": round(len(latencies) / seconds, 1),
        "reply_ms": {"p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99)},
        "rasa_rss_mb": {"idle": round(rss_before, 1), "connected": round(rss_connected, 1),
                        "after_load": round(rss_after, 1)},
        "kb_per_connection": round((rss_connected - rss_before) * 1024 / max(1, len(alive)), 1),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--ramp", type=int, default=50, help="connections opened at a time")
    ap.add_argument("--every", type=float, default=5.0, help="seconds between one customer's messages")
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p = start_platform(Path(tmp), extra_env={"CSBOT_RATE_LIMIT__PER_IP": "1000000/min"})
        try:
            out = asyncio.run(load(p.rasa_url, p.home, args.connections, args.ramp, args.every, args.seconds))
        finally:
            p.stop()
    print(json.dumps({"cpu": cpu(), **out}, ensure_ascii=False, indent=2))
    if not out["connected"]:
        sys.exit("no connection was made")


if __name__ == "__main__":
    main()
