"""Relay benchmark through the real platform (not a test): ``csbot run`` (Rasa, the action server, the event
broker, the handoff service), 50 web chat customers on socket.io each talking to their own agent on the agent
WebSocket. Prints JSON.

* handoff: each customer writes 转人工; the offer reaches an agent, who accepts.
* **customer → agent**: socket.io ``user_uttered`` → Rasa → the event broker → handoff → the agent's WebSocket.
* **agent → customer**: ``POST /api/agent/sessions/{id}/messages`` → handoff → Rasa's tracker API → the
  customer's socket.io ``bot_uttered``.
* every chat writes a line each way every ``--every`` seconds (default 1: 100 relayed lines a second through one
  Rasa process at 50 chats), ``--lines`` times; every line is counted on arrival,
  its order checked, and afterwards looked up in the Rasa tracker (user events, and bot events naming the agent).

The customers and agents run in this process on the same two cores as the platform.

    python -m bench.handoff_relay [--chats 50] [--lines 20] [--every 1]
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

import httpx
import websockets

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu  # noqa: E402
from bench.widget_bench import Customer, pct  # noqa: E402
from tests.platform import start_platform  # noqa: E402


class WebCustomer(Customer):
    """A socket.io customer that keeps what it was told, with the arrival time of each line."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.lines: list[tuple[str, float]] = []

    def on_bot(self, data: dict[str, Any], at: float) -> None:
        self.lines.append((str(data.get("text") or ""), at))
        arrived(self.lines[-1][0])

    async def say(self, text: str) -> None:
        await self.emit("user_uttered", {"message": text, "session_id": self.session})


class AgentDesk:
    def __init__(self, base: str, login: str, token: str, agent_id: str) -> None:
        self.base, self.login, self.id = base, login, agent_id
        self.h = {"Authorization": f"Bearer {token}"}
        self.token = token
        self.offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.heard: list[tuple[str, float]] = []  # customer lines on the WebSocket

    async def open(self, ws_base: str) -> None:
        self.ws = await websockets.connect(f"{ws_base}/api/agent/ws?token={self.token}", max_queue=None)
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        async for raw in self.ws:
            item = json.loads(raw)
            if item["kind"] == "offer":
                self.offers.put_nowait(item)
            elif item["kind"] == "message" and item["message"]["from"] == "customer":
                self.heard.append((item["message"]["text"], time.perf_counter()))
                arrived(self.heard[-1][0])


ARRIVALS: dict[str, float] = {}  # line text → when it arrived (every line's text is unique)
WAITERS: dict[str, asyncio.Future[float]] = {}


def arrived(text: str) -> None:
    at = time.perf_counter()
    ARRIVALS.setdefault(text, at)
    fut = WAITERS.pop(text, None)
    if fut is not None and not fut.done():
        fut.set_result(at)


async def wait_for(text: str, timeout: float = 10) -> float | None:
    if text in ARRIVALS:
        return ARRIVALS[text]
    fut = WAITERS[text] = asyncio.get_running_loop().create_future()
    try:
        return await asyncio.wait_for(fut, timeout)
    except asyncio.TimeoutError:
        return None


async def run(p: Any, chats: int, n_lines: int, every: float) -> dict[str, Any]:
    from bot.rasa_env import rasa_api_headers
    from bot.security import Principal, issue_token
    from bot.settings import load_settings
    from bot.storage.db import Database
    from bot.users import UserService

    settings = load_settings(p.env)
    base, ws_base = f"http://127.0.0.1:{p.ports['handoff']}", f"ws://127.0.0.1:{p.ports['handoff']}"
    users = UserService(Database.from_settings(settings))
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=100)) as http:
        agents = []
        for i in range(chats):
            login = f"relay{i}"
            u = await asyncio.to_thread(users.create, "default", login, f"客服{i}", {"agent"}, "password-123")
            # the token log-in would issue (log-in itself is rate limited per address, as it should be)
            token = issue_token(settings.keyring, Principal(u.user_id, "default", frozenset({"agent"}), login), 3600)
            a = AgentDesk(base, login, token, str(u.user_id))
            await a.open(ws_base)
            await http.post(f"{base}/api/agent/heartbeat", headers=a.h)
            agents.append(a)
        beats = asyncio.create_task(heartbeats(http, base, agents))

        # every customer asks for a person; whichever agent gets the offer accepts it
        pairs: list[tuple[WebCustomer, AgentDesk, str]] = []
        handoff_ms: list[float] = []
        for _ in range(chats):
            c = WebCustomer(p.rasa_url)
            await c.connect()
            t0 = time.perf_counter()
            await c.say("转人工")
            offer, agent = await first_offer(agents)
            handoff_ms.append((time.perf_counter() - t0) * 1000)
            r = await http.post(f"{base}/api/agent/offers/{offer['offer_id']}/accept", headers=agent.h)
            r.raise_for_status()
            pairs.append((c, agent, offer["session"]["id"]))
        await asyncio.sleep(2)  # the "agent joined" lines arrive; what follows is the relay alone

        to_agent: list[float] = []
        to_customer: list[float] = []
        lost = {"customer_to_agent": 0, "agent_to_customer": 0}

        async def chat(k0: int, c: WebCustomer, a: AgentDesk, sid: str) -> None:
            await asyncio.sleep(every * k0 / len(pairs) + random.uniform(0, 0.02))
            for k in range(n_lines):
                started = time.perf_counter()
                mine, theirs = f"顾客{k0}第{k}句", f"客服{k0}第{k}句"
                t0 = time.perf_counter()
                await c.say(mine)
                t1 = time.perf_counter()
                post = http.post(f"{base}/api/agent/sessions/{sid}/messages", json={"text": theirs}, headers=a.h)
                heard, (told, response) = await asyncio.gather(wait_for(mine), both(post, wait_for(theirs)))
                response.raise_for_status()
                if heard is None:
                    lost["customer_to_agent"] += 1
                else:
                    to_agent.append((heard - t0) * 1000)
                if told is None:
                    lost["agent_to_customer"] += 1
                else:
                    to_customer.append((told - t1) * 1000)
                await asyncio.sleep(max(0.0, every - (time.perf_counter() - started)))

        await asyncio.gather(*(chat(k, c, a, sid) for k, (c, a, sid) in enumerate(pairs)))
        beats.cancel()

        reordered = 0
        for k, (c, a, _sid) in enumerate(pairs):
            got_c = [t for t, _ in c.lines if t.startswith(f"客服{k}第")]
            got_a = [t for t, _ in a.heard if t.startswith(f"顾客{k}第")]
            reordered += (got_c != sorted(got_c, key=line_no)) + (got_a != sorted(got_a, key=line_no))

        # the tracker holds every line: the customer's as user events, the agent's as bot events naming the agent
        in_tracker = {"customer": 0, "agent": 0}
        for k, (c, a, _sid) in enumerate(pairs):
            r = await http.get(f"{p.rasa_url}/conversations/{conversation_of(c)}/tracker",
                               headers=rasa_api_headers(settings))  # fmt: skip
            events = r.json().get("events") or []
            in_tracker["customer"] += sum(1 for e in events if e.get("event") == "user"
                                          and str(e.get("text", "")).startswith(f"顾客{k}第"))  # fmt: skip
            in_tracker["agent"] += sum(1 for e in events if e.get("event") == "bot"
                                       and str(e.get("text", "")).startswith(f"客服{k}第")
                                       and agent_of(e) == a.id)  # fmt: skip
        for c, a, _ in pairs:
            await c.close()
            a.pump.cancel()
            await a.ws.close()
    sent = chats * n_lines
    return {
        "chats": chats, "lines_each_way": sent, "every_s": every,
        "handoff_ms": {"p50": pct(handoff_ms, 50), "p99": pct(handoff_ms, 99)},
        "customer_to_agent_ms": {"p50": pct(to_agent, 50), "p95": pct(to_agent, 95), "p99": pct(to_agent, 99)},
        "agent_to_customer_ms": {"p50": pct(to_customer, 50), "p95": pct(to_customer, 95),
                                 "p99": pct(to_customer, 99)},
        "lost": lost, "reordered_chats": reordered,
        "in_tracker": {**in_tracker, "expected_each": sent},
    }  # fmt: skip


def agent_of(event: dict[str, Any]) -> str | None:
    return ((event.get("metadata") or {}).get("agent") or {}).get("id")


def line_no(text: str) -> int:
    return int(text.split("第")[1].rstrip("句"))


def conversation_of(c: WebCustomer) -> str:
    from handoff.relay import path

    return path(c.session)  # session_confirm's session_id is the conversation id


async def both(post: Any, arrival: Any) -> tuple[float | None, httpx.Response]:
    response, at = await asyncio.gather(post, arrival)
    return at, response


async def first_offer(agents: list[AgentDesk], timeout: float = 15) -> tuple[dict[str, Any], AgentDesk]:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        for a in agents:
            if not a.offers.empty():
                return a.offers.get_nowait(), a
        await asyncio.sleep(0.002)
    raise TimeoutError("no agent got an offer")


async def heartbeats(http: httpx.AsyncClient, base: str, agents: list[AgentDesk]) -> None:
    while True:
        for a in agents:  # as the inbox page does, each every 20 s, not in step
            await a.ws.send(json.dumps({"type": "heartbeat"}))
            await asyncio.sleep(20 / len(agents))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chats", type=int, default=50)
    ap.add_argument("--lines", type=int, default=20, help="lines each way per chat")
    ap.add_argument("--every", type=float, default=1.0, help="seconds between a chat's lines")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p = start_platform(Path(tmp), extra_env={
            "CSBOT_RATE_LIMIT__PER_IP": "1000000/min", "CSBOT_RATE_LIMIT__PER_USER": "100000/min",
            "CSBOT_RATE_LIMIT__PER_CONVERSATION": "1000000/10s", "CSBOT_HANDOFF__WORKING_HOURS": "00:00-24:00",
            "CSBOT_HANDOFF__OFFER_SECONDS": "60", "CSBOT_HANDOFF__SILENCE_SECONDS": "600"})  # fmt: skip
        try:
            out = asyncio.run(run(p, args.chats, args.lines, args.every))
        finally:
            p.stop()
    print(json.dumps({"cpu": cpu(), **out}, ensure_ascii=False, indent=2))
    bad = sum(out["lost"].values()) + out["reordered_chats"]
    tracked = out["in_tracker"]
    if bad or tracked["customer"] != out["lines_each_way"] or tracked["agent"] != out["lines_each_way"]:
        sys.exit("lines lost, out of order or missing from the tracker")


if __name__ == "__main__":
    main()
