"""Scale-out under faults: two instances of every service (Rasa, action server, knowledge, handoff, archive) on
MariaDB, Redis, a Milvus standalone server and Kafka-/Elasticsearch-wire servers, behind one load balancer.
Customers talk to the bot, ask for a person, talk to an agent and come back to the bot, while one instance of
each service is killed with -9. Then every message is counted where it must be: once in the conversation (the
Rasa tracker), once in the handoff transcript, once in the archive; every handoff session closed, every
conversation back with the bot.

The killed archive is started again a few seconds later, as a supervisor would: the Kafka-wire broker here
(noida-db 0.2.3) never expires a group member that stopped heartbeating, so the other archive could not take
over its partitions as a real broker lets it after ``session_timeout_ms``; the restarted one takes them back
under its ``events.instance_id`` (static membership) and must archive the rest without losing or doubling any.

Clients behave as the platform's own do: a customer's message is sent again with the same ``message_id`` when
its answer is lost, an agent's line with the same ``client_id``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import bindparam, create_engine, text

from bot.rasa_env import rasa_api_headers
from bot.storage.db import Database
from bot.storage.models import Session
from bot.users import UserService

from ..cluster import Cluster, start_cluster
from ..wire_servers import KafkaWire, elasticsearch_wire

pytestmark = [pytest.mark.rasa, pytest.mark.slow, pytest.mark.mariadb, pytest.mark.redis]

CUSTOMERS = 16
AGENTS = 2
# (text, what must come back, one of): the bot's greeting, a KB answer, the queue (or, when the first call to a
# handoff instance died after queueing and an agent took the chat before the retry, that agent's name)
SCRIPT_BEFORE = [("你好", ("帮",)), ("退货运费谁出", ("运费",)), ("转人工", ("前面还有", "正在为您服务"))]
TO_AGENT = "我买的鞋子码数不对"
AFTER = "好的谢谢"
AGENT_LINES = ("您好，我是客服，请问有什么可以帮您", "好的，给您换大一码，已经安排了")
# when the customers' messages reach these shares of all, one instance of the service is killed
KILLS = [(0.15, "rasa-a"), (0.30, "actions-a"), (0.45, "knowledge-a"), (0.60, "handoff-a"), (0.75, "archive-a")]
RESTART_AFTER = {"archive-a": 5.0}  # seconds after its kill (see the module's docstring)


@dataclass
class Tally:
    sent: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def retried(self, what: str) -> None:
        with self.lock:
            self.retries[what] += 1


def retrying(tally: Tally, what: str, call: Callable[[], httpx.Response], attempts: int = 8) -> httpx.Response:
    """A client's retry: the answer was lost (connection dropped, 5xx), so the same request goes again."""
    for attempt in range(attempts):
        try:
            resp = call()
            if resp.status_code < 500:
                return resp
        except httpx.TransportError:
            pass
        tally.retried(what)
        time.sleep(1 + attempt)
    raise AssertionError(f"{what}: no answer after {attempts} tries")


@pytest.fixture
def cluster(tmp_path: Path, mariadb_url: str, redis_db: int, milvus_server: str) -> Iterator[Cluster]:
    kafka = KafkaWire(tmp_path / "kafka").start()
    create_topics(kafka.bootstrap)
    redis_url, tag = f"redis://127.0.0.1:6379/{redis_db}", f"so{uuid.uuid4().hex[:6]}"
    try:
        with elasticsearch_wire(tmp_path / "es") as es:
            env = {
                "CSBOT_HOME": str(tmp_path / "home"), "CSBOT_DATABASE__URL": mariadb_url,
                "CSBOT_TRACKER_STORE__TYPE": "sql", "CSBOT_TRACKER_STORE__URL": mariadb_url,
                "CSBOT_LOCK_STORE__TYPE": "redis", "CSBOT_LOCK_STORE__URL": redis_url,
                "CSBOT_LOCK_STORE__KEY_PREFIX": f"{tag}lk",
                "CSBOT_PRESENCE__TYPE": "redis", "CSBOT_PRESENCE__URL": redis_url,
                "CSBOT_PRESENCE__KEY_PREFIX": f"{tag}pr",
                "CSBOT_RATE_LIMIT__TYPE": "redis", "CSBOT_RATE_LIMIT__URL": redis_url,
                "CSBOT_RATE_LIMIT__KEY_PREFIX": f"{tag}rl", "CSBOT_RATE_LIMIT__PER_IP": "100000/min",
                "CSBOT_RATE_LIMIT__PER_USER": "100000/min",
                "CSBOT_CACHE__TYPE": "redis", "CSBOT_CACHE__URL": redis_url, "CSBOT_CACHE__PREFIX": f"{tag}c",
                "CSBOT_EVENTS__TYPE": "kafka", "CSBOT_EVENTS__BOOTSTRAP_SERVERS": kafka.bootstrap,
                "CSBOT_EVENTS__SESSION_TIMEOUT_MS": "6000",
                "CSBOT_VECTORS__TYPE": "milvus", "CSBOT_VECTORS__URI": milvus_server,
                "CSBOT_VECTORS__SEARCH_CONSISTENCY": "Strong",
                "CSBOT_KEYWORDS__TYPE": "elasticsearch", "CSBOT_KEYWORDS__URL": es,
                "CSBOT_KEYWORDS__PREFIX": tag,
                "CSBOT_MESSAGE_SEARCH__TYPE": "elasticsearch", "CSBOT_MESSAGE_SEARCH__URL": es,
                "CSBOT_MESSAGE_SEARCH__INDEX": f"{tag}_messages",
                "CSBOT_HANDOFF__WORKING_HOURS": "00:00-24:00",
            }  # fmt: skip
            c = start_cluster(tmp_path, env)
            try:
                yield c
            finally:
                c.stop()
    finally:
        kafka.stop()


def create_topics(bootstrap: str) -> None:
    """As an operator does before the first start (deploy/README.md): chat.msg with several partitions, so both
    archives read a share of it."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic("chat.msg", 4, 1), NewTopic("chat.session", 2, 1), NewTopic("chat.ticket", 2, 1)])
    finally:
        admin.close()


class Customer(threading.Thread):
    def __init__(self, c: Cluster, n: int, tally: Tally) -> None:
        super().__init__(name=f"customer-{n}", daemon=True)
        self.c, self.tally = c, tally
        self.conversation = f"so{uuid.uuid4().hex[:10]}"
        self.ids: list[str] = []
        self.replies: list[str] = []
        self.error: str | None = None

    def say(self, message: str) -> str:
        mid = f"m{uuid.uuid4().hex[:12]}"
        self.ids.append(mid)
        body = {"sender": self.conversation, "message": message, "message_id": mid}
        with httpx.Client(timeout=150) as http:
            r = retrying(self.tally, "customer", lambda: http.post(f"{self.c.url('rasa')}/webhooks/rest/webhook",
                                                                   json=body))  # fmt: skip
        assert r.status_code == 200, r.text
        with self.tally.lock:
            self.tally.sent += 1
        reply = "\n".join(m.get("text") or "" for m in r.json())
        self.replies.append(reply)
        return reply

    def agent_lines(self) -> list[dict[str, Any]]:
        with httpx.Client(timeout=30) as http:
            r = retrying(self.tally, "poll", lambda: http.get(f"{self.c.url('rasa')}/webhooks/rest/messages",
                                                              params={"sender": self.conversation}))  # fmt: skip
        return [m for m in r.json() if m.get("agent")]

    def wait_for(self, check: Callable[[list[dict[str, Any]]], bool], what: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not check(self.agent_lines()):
            assert time.monotonic() < deadline, f"{self.conversation}: {what}"
            time.sleep(1)

    def run(self) -> None:
        try:
            for message, expected in SCRIPT_BEFORE:
                reply = self.say(message)
                assert any(e in reply for e in expected), f"{message} → {reply!r}"
            self.wait_for(lambda lines: len(lines) >= 1, "no agent came")
            self.say(TO_AGENT)
            self.wait_for(lambda lines: len(lines) >= 2, "the agent did not answer")
            self.wait_for_close()
            assert self.say(AFTER).strip(), "the bot did not answer after the handoff"
        except Exception as exc:  # reported by the test, with the conversation and what the customer read
            self.error = f"{self.conversation}: {exc!r}; replies {self.replies}"

    def wait_for_close(self, timeout: float = 300) -> None:
        """The session is closed when the bot speaks again after the agent's last line (the closing words)."""
        deadline = time.monotonic() + timeout
        while True:
            with httpx.Client(timeout=30) as http:
                r = retrying(self.tally, "poll", lambda: http.get(
                    f"{self.c.url('rasa')}/webhooks/rest/messages", params={"sender": self.conversation}))
            lines = r.json()
            agent_at = max((m["at"] for m in lines if m.get("agent")), default=None)
            if agent_at is not None and any(not m.get("agent") and m["at"] > agent_at for m in lines):
                return
            assert time.monotonic() < deadline, f"{self.conversation}: the agent did not close"
            time.sleep(1)


class AgentDesk(threading.Thread):
    """An agent working from the API: takes waiting chats, greets, answers the customer's line, closes."""

    def __init__(self, c: Cluster, login: str, tally: Tally, stop: threading.Event) -> None:
        super().__init__(name=f"agent-{login}", daemon=True)
        self.c, self.tally, self.stop = c, tally, stop
        UserService(Database.from_settings(c.settings)).create("default", login, f"客服{login}", {"agent"},
                                                               "password-123")  # fmt: skip
        self.base = c.url("handoff")
        got = httpx.post(f"{self.base}/api/auth/login", json={"login": login, "password": "password-123"},
                         timeout=30).json()  # fmt: skip
        self.h = {"Authorization": f"Bearer {got['token']}"}
        self.closed: set[int] = set()
        self.error: str | None = None
        self.refused: list[str] = []
        assert httpx.post(f"{self.base}/api/agent/heartbeat", headers=self.h, timeout=30).status_code == 204

    def call(self, http: httpx.Client, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return retrying(self.tally, "agent", lambda: http.request(method, f"{self.base}/api/agent{path}",
                                                                  json=body, headers=self.h))  # fmt: skip

    def run(self) -> None:
        threading.Thread(target=self.beat, daemon=True).start()
        try:
            with httpx.Client(timeout=60) as http:
                while not self.stop.is_set():
                    self.turn(http)
                    time.sleep(0.5)
        except Exception as exc:
            self.error = repr(exc)

    def beat(self) -> None:
        """The inbox's heartbeat, on its own timer as in the page: a slow request does not make the agent away."""
        with httpx.Client(timeout=10) as http:
            while not self.stop.wait(5):
                with contextlib.suppress(httpx.TransportError):
                    http.post(f"{self.base}/api/agent/heartbeat", headers=self.h)

    def turn(self, http: httpx.Client) -> None:
        for item in self.call(http, "GET", "/queue").json().get("items", [])[:2]:
            r = self.call(http, "POST", f"/sessions/{item['id']}/take")
            if r.status_code != 200:  # 409: someone else was quicker, or this agent is at capacity
                self.refused.append(f"take {item['id']}: {r.status_code} {r.text[:200]}")
        for session in self.call(http, "GET", "/sessions").json().get("items", []):
            sid = int(session["id"])
            if sid in self.closed or session.get("state") not in ("active", "warning"):
                continue
            lines = self.call(http, "GET", f"/sessions/{sid}").json()["messages"]
            mine = [m for m in lines if m.get("from") == "agent"]
            heard = any(m.get("from") == "customer" and m.get("text") == TO_AGENT for m in lines)
            if not mine:
                self.send(http, sid, 0)
            elif len(mine) == 1 and heard:
                self.send(http, sid, 1)
            elif len(mine) >= 2:
                r = self.call(http, "POST", f"/sessions/{sid}/close", {"summary": "换码"})
                assert r.status_code in (200, 409), r.text
                self.closed.add(sid)

    def send(self, http: httpx.Client, sid: int, n: int) -> None:
        r = self.call(http, "POST", f"/sessions/{sid}/messages", {"text": AGENT_LINES[n], "client_id": f"s{sid}l{n}"})
        if r.status_code != 200:  # e.g. the chat went to a colleague meanwhile: looked at again next turn
            self.refused.append(f"send {sid}: {r.status_code} {r.text[:200]}")


def test_two_of_everything_lose_and_repeat_nothing_when_one_of_each_is_killed(cluster: Cluster) -> None:
    tally, stop = Tally(), threading.Event()
    agents = [AgentDesk(cluster, f"so{uuid.uuid4().hex[:6]}", tally, stop) for _ in range(AGENTS)]
    customers = [Customer(cluster, n, tally) for n in range(CUSTOMERS)]
    total = CUSTOMERS * (len(SCRIPT_BEFORE) + 2)
    for a in agents:
        a.start()
    for i, cu in enumerate(customers):
        cu.start()
        time.sleep(0.3 if i % 4 else 1.0)
    killed: list[str] = []
    restart_at: dict[str, float] = {}
    deadline = time.monotonic() + 900
    while any(cu.is_alive() for cu in customers) or restart_at:
        for share, name in KILLS:
            if name not in killed and tally.sent >= share * total:
                cluster.instances[name].kill()
                killed.append(name)
                if name in RESTART_AFTER:
                    restart_at[name] = time.monotonic() + RESTART_AFTER[name]
        for name, when in list(restart_at.items()):
            if time.monotonic() >= when:
                cluster.instances[name].restart()
                del restart_at[name]
        assert time.monotonic() < deadline, "the conversations did not finish in 15 minutes"
        time.sleep(0.2)
    stop.set()
    for a in agents:
        a.join(timeout=60)
    problems = [cu.error for cu in customers if cu.error] + [a.error for a in agents if a.error]
    if problems:
        for a in agents:
            problems.append(f"agent {a.name}: refused {a.refused[-10:]}")
        problems.append(f"sessions {session_states(cluster, customers)}")
        problems.append(f"instance logs {cluster.error_lines()}")
    assert not problems, "\n".join(problems)
    assert killed == [name for _, name in KILLS]

    for a in agents:
        print(f"agent {a.name}: refused {a.refused}")
    report = count_everything(cluster, customers)
    report.update(slow_handoff_requests(cluster))
    print(f"\nscale-out run: {CUSTOMERS} conversations, {tally.sent} customer messages, killed {killed}, "
          f"client retries {dict(tally.retries)}\n" + "\n".join(f"  {k}: {v}" for k, v in report.items()))
    n_customer = CUSTOMERS * (len(SCRIPT_BEFORE) + 2)
    assert report["customer messages in trackers"] == n_customer
    assert report["customer messages stored twice"] == 0
    assert report["agent lines in trackers"] == CUSTOMERS * len(AGENT_LINES)
    assert report["agent lines stored twice"] == 0
    assert report["conversations paused"] == 0
    assert report["handoff sessions"] == report["handoff sessions closed"] == CUSTOMERS
    assert report["customer lines in handoff transcripts"] == CUSTOMERS
    assert report["agent lines in handoff transcripts"] == CUSTOMERS * len(AGENT_LINES)
    assert report["archived lines"] == report["lines in trackers"]


def count_everything(c: Cluster, customers: list[Customer]) -> dict[str, Any]:
    headers = rasa_api_headers(c.settings)
    out: dict[str, Any] = Counter()
    expected_lines = 0
    for cu in customers:
        tracker = httpx.get(f"{c.url('rasa')}/conversations/{cu.conversation}/tracker", headers=headers,
                            timeout=60).json()  # fmt: skip
        events = tracker["events"]
        users = Counter(e.get("message_id") for e in events if e["event"] == "user")
        out["customer messages in trackers"] += sum(1 for mid in cu.ids if users[f"c-{mid}"] >= 1)
        out["customer messages stored twice"] += sum(n - 1 for n in users.values() if n > 1)
        # the agents' own lines carry their handoff line id (the "客服 xx 为您服务" greeting does not)
        agent_ids = Counter((e.get("metadata") or {}).get("line_id") for e in events
                            if e["event"] == "bot" and (e.get("metadata") or {}).get("line_id"))  # fmt: skip
        out["agent lines in trackers"] += len(agent_ids)
        out["agent lines stored twice"] += sum(n - 1 for n in agent_ids.values() if n > 1)
        out["conversations paused"] += int(bool(tracker.get("paused")))
        expected_lines += sum(1 for e in events if e["event"] in ("user", "bot")
                              and (e.get("text") or (e.get("data") or {}).get("image")))
    out["lines in trackers"] = expected_lines
    convs = [cu.conversation for cu in customers]
    engine = create_engine(c.env["CSBOT_DATABASE__URL"])
    try:
        with engine.connect() as conn:
            states = conn.execute(text("SELECT session_id, session_state FROM cs_session WHERE conversation_id IN :c")
                                  .bindparams(bindparam("c", expanding=True)), {"c": convs}).all()  # fmt: skip
            out["handoff sessions"] = len(states)
            out["handoff sessions closed"] = sum(1 for _, st in states if st == Session.CLOSED)
            transcript = transcripts(c, [sid for sid, _ in states])
            out["customer lines in handoff transcripts"] = transcript[TO_AGENT]
            out["agent lines in handoff transcripts"] = sum(transcript[line] for line in AGENT_LINES)
            deadline = time.monotonic() + 180
            while True:  # the archive catches up with what the trackers hold
                archived = conn.execute(text("SELECT COUNT(*) FROM cs_message WHERE conversation_id IN :c")
                                        .bindparams(bindparam("c", expanding=True)), {"c": convs}).scalar()  # fmt: skip
                conn.commit()
                if archived >= expected_lines or time.monotonic() > deadline:
                    break
                time.sleep(2)
            out["archived lines"] = int(archived or 0)
            if archived < expected_lines:  # where the rest stands, for whoever reads the failure
                out["outbox rows"] = int(conn.execute(text("SELECT COUNT(*) FROM cs_outbox")).scalar() or 0)
                out["outbox max seq"] = int(conn.execute(text("SELECT MAX(seq) FROM cs_outbox")).scalar() or 0)
                for group, source, position in conn.execute(text(
                        "SELECT group_name, source, position FROM cs_stream_offset")).all():  # fmt: skip
                    out[f"stream position {group}/{source}"] = int(position)
                out["archive rows, all"] = int(conn.execute(text("SELECT COUNT(*) FROM cs_message")).scalar() or 0)
                out["dead letters"] = int(conn.execute(text("SELECT COUNT(*) FROM cs_dead_letter")).scalar() or 0)
                for key, value in kafka_lag(c).items():  # set, not added: some values are per-partition maps
                    out[key] = value
                for inst in c.instances.values():
                    if inst.service == "archive" and inst.proc.poll() is None:
                        out[f"{inst.name} /health"] = httpx.get(inst.health, timeout=10).text[:600]
    finally:
        engine.dispose()
    return dict(out)


def slow_handoff_requests(c: Cluster) -> dict[str, str]:
    """How long the handoff instance still up took to queue a customer: the action server waits 10 s."""
    out: dict[str, str] = {}
    for inst in c.instances.values():
        if inst.service != "handoff" or inst.proc.poll() is not None:
            continue
        buckets: dict[str, float] = {}
        try:
            scraped = httpx.get(f"http://127.0.0.1:{inst.port}/metrics", timeout=10).text
        except httpx.HTTPError as exc:  # a diagnostic: never the failure itself
            out[f"{inst.name} /metrics"] = repr(exc)
            continue
        for line in scraped.splitlines():
            if line.startswith("csbot_http_request_duration_seconds_") and 'route="/internal/handoff"' in line:
                name, value = line.rsplit(" ", 1)
                le = name.split('le="')[1].split('"')[0] if 'le="' in name else name.split("{")[0].rsplit("_", 1)[1]
                buckets[le] = float(value)
        if buckets.get("count"):
            n = buckets["count"]
            out[f"{inst.name} /internal/handoff"] = (f"{n:.0f} requests, mean {buckets['sum'] / n:.2f} s, "
                                                     f"over 2.5 s: {n - buckets.get('2.5', n):.0f}")  # fmt: skip
    return out


def session_states(c: Cluster, customers: list[Customer]) -> dict[str, list[tuple[int, int]]]:
    """Each conversation's handoff sessions and their states, for whoever reads a failure."""
    engine = create_engine(c.env["CSBOT_DATABASE__URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT conversation_id, session_id, session_state FROM cs_session "
                                     "WHERE conversation_id IN :c").bindparams(bindparam("c", expanding=True)),
                                {"c": [cu.conversation for cu in customers]}).all()  # fmt: skip
    finally:
        engine.dispose()
    out: dict[str, list[tuple[int, int]]] = {cu.conversation: [] for cu in customers}
    for conversation, sid, state in rows:
        out[conversation].append((int(sid), int(state)))
    return out


def transcripts(c: Cluster, sessions: list[int]) -> Counter[str]:
    """The handoff transcripts' lines by text (read through the models: the text is sealed at rest)."""
    from handoff.models import HandoffLine

    db = Database.from_settings(c.settings)
    try:
        with db.session() as s:
            lines = s.query(HandoffLine).filter(HandoffLine.session_id.in_(sessions or [0])).all()
            return Counter(str(json.loads(m.content or "{}").get("text")) for m in lines)
    finally:
        db.dispose()


def kafka_lag(c: Cluster) -> dict[str, Any]:
    """Records in chat.msg and what each reader group committed (a consumer that never joins can read that)."""
    from kafka import KafkaConsumer, TopicPartition

    servers = c.env["CSBOT_EVENTS__BOOTSTRAP_SERVERS"]
    out: dict[str, Any] = {}
    try:
        probe = KafkaConsumer(bootstrap_servers=servers)
        tps = [TopicPartition("chat.msg", p) for p in sorted(probe.partitions_for_topic("chat.msg") or ())]
        ends = probe.end_offsets(tps)
        out["kafka chat.msg records"] = sum(ends.values())
        probe.close()
        for group in ("archiver", "search-index"):
            reader = KafkaConsumer(bootstrap_servers=servers, group_id=group, enable_auto_commit=False)
            behind = {tp.partition: ends[tp] - (reader.committed(tp) or 0) for tp in tps}
            out[f"kafka {group} behind, by partition"] = {p: n for p, n in behind.items() if n}
            reader.close(autocommit=False)
    except Exception as exc:  # a diagnostic: never hides the failure it explains
        out["kafka"] = repr(exc)
    return out
