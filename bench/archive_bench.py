"""The archive under load (issue 14 targets): stream → cs_message throughput, end-to-end archive lag, and a
fault run with nothing lost or duplicated.

    python -m bench.archive_bench                          # embedded default: SQLite outbox → SQLite
    python -m bench.archive_bench --db mariadb --stream kafka        # MariaDB + a Kafka-wire broker
    python -m bench.archive_bench --db mariadb --stream kafka --faults   # kill -9, broker and MariaDB restarts

Throughput: N lines are published to the outbox first (and, on Kafka, relayed to the topic), then the archiver
(one process, as ``csbot run`` starts it, with the search index) drains them; lines/s is N over that time.
Lag: a producer process publishes at ``--rate`` lines/s for ``--seconds`` while the archive process runs; a
line's lag is its archive commit time minus the time it was published. Faults: the real ``python -m
handoff.archive`` process archives 100k lines while it is killed -9, the broker restarted and MariaDB restarted;
then every published id is looked up: lost = published − archived, duplicated = rows − distinct lines.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import text  # noqa: E402

from bench.machine import cpu  # noqa: E402
from bench.search_bench import lines  # noqa: E402
from bot.events.envelope import StreamEvent  # noqa: E402
from bot.events.outbox import publish  # noqa: E402
from bot.ids import Snowflake, configure  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from bot.storage import migrate  # noqa: E402
from bot.storage.db import Database  # noqa: E402

ADMIN = dict(host="127.0.0.1", port=3306, user="root", password="")


def events(n: int, worker: int, seed: int = 7) -> Iterator[StreamEvent]:
    ids = Snowflake(worker)
    for m in lines(n, 5, seed):
        yield StreamEvent(ids.next_id(), "message", m.tenant, f"{m.tenant}:{m.conversation_id}", time.time(),
                          {"role": m.role, "text": m.text, "customer": m.customer, "agent_id": m.agent_id,
                           "channel": "web"})  # fmt: skip


def fill(db: Database, n: int, worker: int, batch: int = 1000) -> float:
    started, buf = time.perf_counter(), []
    for e in events(n, worker):
        buf.append(e)
        if len(buf) == batch:
            with db.session() as s:
                publish(s, buf)
            buf = []
    if buf:
        with db.session() as s:
            publish(s, buf)
    return n / (time.perf_counter() - started)


def archived(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM cs_message")).scalar() or 0)


def settings_for(home: Path, db_url: str, bootstrap: str | None, index: bool) -> tuple[Settings, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env.update({"CSBOT_HOME": str(home), "CSBOT_DATABASE__URL": db_url, "CSBOT_ARCHIVE__INDEX": str(index).lower(),
                "CSBOT_TRACKER_STORE__TYPE": "redis", "CSBOT_ARCHIVE__BATCH": "5000",
                "CSBOT_SERVICES__ARCHIVE_PORT": str(free_port())})  # fmt: skip
    if bootstrap:
        if os.environ.get("BENCH_NO_IDEMPOTENCE"):
            env["CSBOT_EVENTS__IDEMPOTENCE"] = "false"
        env.update({"CSBOT_EVENTS__TYPE": "kafka", "CSBOT_EVENTS__BOOTSTRAP_SERVERS": bootstrap,
                    "CSBOT_EVENTS__SESSION_TIMEOUT_MS": "6000"})  # fmt: skip
    return load_settings(env), env


def free_port() -> int:
    from tests.wire_servers import free_port as fp

    return fp()


def relay_all(settings: Settings, n: int) -> float:
    from bot.events.stream.kafka import KafkaRelay

    relay, sent, started = KafkaRelay(settings), 0, time.perf_counter()
    while sent < n:
        sent += relay.run_once(0.2)
    relay.close()
    return n / (time.perf_counter() - started)


def drain(settings: Settings, db: Database, n: int, index: bool) -> dict[str, float]:
    from bot.crypto import cipher_from_settings
    from bot.events.stream import create_consumer
    from handoff.archive.archiver import Archiver

    a = Archiver(db, create_consumer(settings, "archiver"), cipher_from_settings(settings), 5000)
    started = time.perf_counter()
    while a.counters.archived < n:
        a.run_once(0.5)
    took = time.perf_counter() - started
    a.consumer.close()
    out = {"lines_per_s": round(n / took), "seconds": round(took, 2)}
    if index:  # the search index's own reader group, after the archive (in the service they run side by side)
        from handoff.archive.indexer import Indexer
        from handoff.search import create_message_index

        ix = Indexer(create_consumer(settings, "search-index"), create_message_index(settings), 5000)
        started = time.perf_counter()
        while ix.indexed < n:
            ix.run_once(0.5)
        out["index_lines_per_s"] = round(n / (time.perf_counter() - started))
        ix.consumer.close()
        ix.index.close()
    return out


def producer(db_url: str, rate: int, seconds: float, worker: int, stamp: mp.Queue) -> None:  # type: ignore[type-arg]
    db = Database(db_url)
    per_tick, tick, sent, gen = max(1, rate // 50), 0.02, 0, events(int(rate * seconds) + 1000, worker, seed=99)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = [StreamEvent(e.id, e.kind, e.tenant, e.key, time.time(), e.data) for e in
                 (next(gen) for _ in range(per_tick))]  # fmt: skip
        with db.session() as s:
            publish(s, batch)
        sent += len(batch)
        behind = started + (sent / rate) - time.perf_counter()
        if behind > 0:
            time.sleep(min(behind, tick))
    stamp.put(sent)
    db.dispose()


def lag_run(settings: Settings, env: dict[str, str], db: Database, rate: int, seconds: float) -> dict[str, float]:
    """The real archive process (with the relay on Kafka) while a producer process publishes at ``rate``."""
    before = archived(db)
    proc = subprocess.Popen([sys.executable, "-m", "handoff.archive"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    import httpx

    url = f"http://127.0.0.1:{env['CSBOT_SERVICES__ARCHIVE_PORT']}/health"
    for _ in range(200):
        try:
            if httpx.get(url, timeout=1).status_code in (200, 503):
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    p = mp.Process(target=producer, args=(settings.database_url, rate, seconds, 900, q))
    p.start()
    lags: list[float] = []
    started, sent = time.time(), None
    while True:  # sample the archive: a line's lag = when it is visible in cs_message − when it was published
        time.sleep(0.25)
        now = time.time()
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT COUNT(*) FROM cs_message")).scalar() or 0
        lags.append((now, int(rows)))  # type: ignore[arg-type]
        if sent is None and not p.is_alive():
            sent = q.get()
        if sent is not None and rows - before >= sent:
            break
        if now - started > seconds + 120:
            break
    proc.terminate()
    proc.wait(timeout=30)
    return {"sent": sent or 0, "archived": int(lags[-1][1]) - before, "samples": lags, "t0": started}  # type: ignore[dict-item]


def lag_from_samples(run: dict, rate: int) -> dict[str, float]:  # type: ignore[type-arg]
    """Line k was published at about t0 + k/rate; it was visible at the first sample whose count exceeds k."""
    samples, t0, before = run["samples"], run["t0"], run["samples"][0][1] - 0
    first = samples[0][1]
    out: list[float] = []
    k = 0
    for at, count in samples:
        while k < count - first:
            out.append(max(0.0, at - (t0 + k / rate)))
            k += max(1, rate // 200)  # a sample of lines, evenly spread
    out.sort()
    _ = before
    return {"p50_s": round(statistics.median(out), 2), "p99_s": round(out[int(len(out) * 0.99) - 1], 2),
            "max_s": round(out[-1], 2)} if out else {}  # fmt: skip


def mariadb_url() -> str:
    import pymysql

    name = f"csbot_bench_{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(**ADMIN)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    return f"mysql+pymysql://root@127.0.0.1:3306/{name}?charset=utf8mb4"


def drop(url: str) -> None:
    import pymysql

    conn = pymysql.connect(**ADMIN)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{url.rsplit('/', 1)[1].split('?')[0]}`")
    conn.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", choices=("sqlite", "mariadb"), default="sqlite")
    ap.add_argument("--stream", choices=("sql", "kafka"), default="sql")
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=10_000, help="lines/s the producer publishes in the lag run")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--no-index", action="store_true", help="archive only (no search index)")
    ap.add_argument("--faults", action="store_true")
    args = ap.parse_args()
    print({"cpu": cpu(), "db": args.db, "stream": args.stream, "messages": args.messages}, flush=True)
    if args.faults:
        from bench.archive_faults import fault_run

        return fault_run(args.messages)
    configure(1000)
    with tempfile.TemporaryDirectory() as tmp:
        broker = None
        if args.stream == "kafka":
            from tests.wire_servers import KafkaWire

            broker = KafkaWire(Path(tmp) / "kafka").start()
        url = mariadb_url() if args.db == "mariadb" else f"sqlite:///{Path(tmp) / 'csbot.db'}"
        try:
            settings, env = settings_for(Path(tmp) / "home", url, broker.bootstrap if broker else None,
                                         not args.no_index)  # fmt: skip
            db = Database(url)
            migrate.upgrade(db.engine)
            written = fill(db, args.messages, 1001)
            print({"outbox_write_lines_per_s": round(written)}, flush=True)
            if broker:
                print({"relay_to_kafka_lines_per_s": round(relay_all(settings, args.messages))}, flush=True)
            result = drain(settings, db, args.messages, not args.no_index)
            assert archived(db) == args.messages, (archived(db), args.messages)
            print({"archive": result}, flush=True)
            run = lag_run(settings, env, db, args.rate, args.seconds)
            print({"lag_run": {"rate": args.rate, "sent": run["sent"], "archived": run["archived"],
                               **lag_from_samples(run, args.rate)}}, flush=True)  # fmt: skip
            db.dispose()
        finally:
            if broker:
                broker.stop()
            if args.db == "mariadb":
                drop(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
