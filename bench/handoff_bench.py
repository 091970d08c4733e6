"""Handoff benchmark (not a test): the real handoff service process under a queue of 1,000 waiting customers and
200 agents on WebSockets sending heartbeats. Prints JSON.

* **queue**: 1,000 sessions queued over ``/internal/handoff`` while every agent is busy (p50/p99 of a request).
* **agent free → offer**: an agent switches to available; time until the top waiting session's offer reaches
  their WebSocket.
* **session queued → offer**: a session queued for a group whose agent has room; time until the offer arrives.
* **customer → agent**: a customer line relayed (``/internal/events``, what the Rasa event broker posts) until
  it reaches the agent's WebSocket, 50 active chats each typing a line a second; every line counted and its
  order checked.
* counted in every run: lost, reordered, double assignments (sessions with two accepted offers or two agents).

Both directions through the real Rasa server (socket.io customers) are measured by ``bench.handoff_relay``.

    python -m bench.handoff_bench [--agents 200] [--waiting 1000] [--presence memory|redis]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


class AgentSocket:
    def __init__(self, ws: Any, agent_id: str, headers: dict[str, str]) -> None:
        self.ws, self.id, self.h = ws, agent_id, headers
        self.waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.messages: dict[str, list[str]] = {}

    async def pump(self) -> None:
        async for raw in self.ws:
            item = json.loads(raw)
            kind = item["kind"]
            if kind == "message" and item["message"]["from"] == "customer":
                self.messages.setdefault(item["session_id"], []).append(item["message"]["text"])
            fut = self.waiters.pop(kind, None)
            if fut is not None and not fut.done():
                fut.set_result({**item, "_at": time.perf_counter()})

    def expect(self, kind: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiters[kind] = fut
        return fut


async def run(base: str, ws_base: str, settings: Any, agent_ids: list[str], waiting: int) -> dict[str, Any]:
    from bot.security import Principal, issue_token, service_token

    keys = settings.keyring
    svc_h = {"Authorization": f"Bearer {service_token(keys, 'default', 'bench', 3600)}"}
    tokens = [issue_token(keys, Principal(int(a), "default", frozenset({"agent"}), f"a{i}"), 3600)
              for i, a in enumerate(agent_ids)]  # fmt: skip
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        agents = []
        for a, t in zip(agent_ids, tokens, strict=True):
            ws = await websockets.connect(f"{ws_base}/api/agent/ws?token={t}", max_queue=None)
            agents.append(AgentSocket(ws, a, {"Authorization": f"Bearer {t}"}))
        pumps = [asyncio.create_task(s.pump()) for s in agents]

        async def heartbeats() -> None:
            """As the inbox pages do: each every 20 s over its WebSocket, pages not in step with each other."""
            while True:
                for s in agents:
                    await s.ws.send(json.dumps({"type": "heartbeat"}))
                    await asyncio.sleep(20 / len(agents))

        beat = asyncio.create_task(heartbeats())
        for s in agents:
            await http.post("/api/agent/availability", json={"available": False}, headers=s.h)

        # 1. a queue of `waiting` customers, everyone busy
        queue_ms = []
        for n in range(waiting):
            t0 = time.perf_counter()
            body = {"conversation_id": f"w{n}", "channel": "rest", "customer": {"id": f"w{n}"}, "text": "转人工"}
            r = await http.post("/internal/handoff", headers=svc_h, json=body)
            r.raise_for_status()
            queue_ms.append((time.perf_counter() - t0) * 1000)

        # 2. agent free → the top session's offer on their socket
        free_ms = []
        for s in agents[: min(100, len(agents) - 1)]:
            fut = s.expect("offer")
            t0 = time.perf_counter()
            await http.post("/api/agent/availability", json={"available": True}, headers=s.h)
            offer = await asyncio.wait_for(fut, 10)
            free_ms.append((offer["_at"] - t0) * 1000)
            r = await http.post(f"/api/agent/offers/{offer['offer_id']}/accept", headers=s.h)
            r.raise_for_status()
            await http.post("/api/agent/availability", json={"available": False}, headers=s.h)

        # 3. session queued → offer, for a group whose one agent has room (accept, then close to free the slot)
        group_agent = agents[-1]  # serves its own group only (created with it)
        await http.post("/api/agent/availability", json={"available": True}, headers=group_agent.h)
        queued_ms = []
        for n in range(100):
            fut = group_agent.expect("offer")
            t0 = time.perf_counter()
            body = {"conversation_id": f"q{n}", "channel": "rest", "customer": {"id": f"q{n}"}, "group": "express"}
            await http.post("/internal/handoff", headers=svc_h, json=body)
            offer = await asyncio.wait_for(fut, 10)
            queued_ms.append((offer["_at"] - t0) * 1000)
            await http.post(f"/api/agent/offers/{offer['offer_id']}/accept", headers=group_agent.h)
            await http.post(f"/api/agent/sessions/{offer['session']['id']}/close", headers=group_agent.h)

        # 4. 50 active chats: customer lines to the agents' sockets, all at once, each chat in order
        active = []
        for s in agents[: min(50, len(agents) - 1)]:
            sessions = (await http.get("/api/agent/sessions", headers=s.h)).json()["items"]
            active.append((s, sessions[0]))
        lines_per_chat = 20
        relay_ms: list[float] = []

        async def chat(k0: int, s: AgentSocket, session: dict[str, Any]) -> None:
            """A customer typing a line every second (50 chats: 50 lines a second), staggered."""
            await asyncio.sleep(k0 / len(active))
            for k in range(lines_per_chat):
                fut = s.expect("message")
                t0 = time.perf_counter()
                line = {"conversation_id": session["conversation_id"], "text": f"第{k}句", "intent": "inform"}
                await http.post("/internal/events", headers=svc_h, json={"events": [line]})
                got = await asyncio.wait_for(fut, 10)
                relay_ms.append((got["_at"] - t0) * 1000)
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))

        t0 = time.perf_counter()
        await asyncio.gather(*[chat(i, s, sess) for i, (s, sess) in enumerate(active)])
        relay_s = time.perf_counter() - t0
        lost = sum(lines_per_chat - len(s.messages.get(sess["id"], [])) for s, sess in active)
        reordered = sum(s.messages.get(sess["id"], []) != [f"第{k}句" for k in range(lines_per_chat)]
                        for s, sess in active)  # fmt: skip

        beat.cancel()
        for p in pumps:
            p.cancel()
        for s in agents:
            await s.ws.close()

    from sqlalchemy import func, select

    from bot.storage.db import Database
    from bot.storage.models import Session
    from handoff.models import Offer

    with Database.from_settings(settings).session() as db:
        doubles = db.scalar(select(func.count()).select_from(
            select(Offer.session_id).where(Offer.status == Offer.ACCEPTED).group_by(Offer.session_id)
            .having(func.count() > 1).subquery()))  # fmt: skip
        assigned = db.scalar(select(func.count()).select_from(Session).where(Session.agent_id.is_not(None)))
    return {
        "agents_on_websockets": len(agent_ids), "waiting_sessions": waiting,
        "queue_request_ms": {"p50": pct(queue_ms, 50), "p99": pct(queue_ms, 99)},
        "agent_free_to_offer_ms": {"n": len(free_ms), "p50": pct(free_ms, 50), "p99": pct(free_ms, 99)},
        "session_queued_to_offer_ms": {"n": len(queued_ms), "p50": pct(queued_ms, 50), "p99": pct(queued_ms, 99)},
        "customer_to_agent_ms_50_chats": {"n": len(relay_ms), "p50": pct(relay_ms, 50), "p99": pct(relay_ms, 99),
                                          "lines_per_s": round(len(relay_ms) / relay_s, 1)},
        "lost": lost, "reordered": reordered, "double_assignments": int(doubles or 0), "sessions_assigned": assigned,
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=200)
    ap.add_argument("--waiting", type=int, default=1000)
    ap.add_argument("--presence", default="memory", help="memory or redis (redis://127.0.0.1:6379/0)")
    ap.add_argument("--database", default="", help="a SQLAlchemy URL (default: SQLite in a temp home)")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="handoff-bench-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")} | {
        "CSBOT_HOME": str(home), "CSBOT_SERVICES__HANDOFF_PORT": str(port),
        "CSBOT_HANDOFF__WORKING_HOURS": "00:00-24:00", "CSBOT_HANDOFF__OFFER_SECONDS": "60",
        "CSBOT_RATE_LIMIT__PER_USER": "100000/min", "CSBOT_PRESENCE__TYPE": args.presence}  # fmt: skip
    if args.presence == "redis":
        env["CSBOT_PRESENCE__URL"] = "redis://127.0.0.1:6379/0"
        env["CSBOT_PRESENCE__KEY_PREFIX"] = f"bench{port}"
    if args.database:
        env["CSBOT_DATABASE__URL"] = args.database
    from bot.settings import load_settings
    from bot.storage import migrate
    from bot.storage.db import Database
    from bot.users import UserService

    settings = load_settings(env)
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    users = UserService(db)
    agent_ids = [str(users.create("default", f"bench{i}", f"客服{i}", {"agent"}, "password-123",
                                  ("express",) if i == args.agents - 1 else ()).user_id)
                 for i in range(args.agents)]  # fmt: skip
    log = (home / "handoff.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "handoff"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    print(f"handoff service log: {home / 'handoff.log'}", file=sys.stderr)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        result = asyncio.run(run(base, f"ws://127.0.0.1:{port}", settings, agent_ids, args.waiting))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(json.dumps({"cpu": cpu(), "presence": args.presence, "database": args.database or "sqlite",
                      **result}, ensure_ascii=False, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
