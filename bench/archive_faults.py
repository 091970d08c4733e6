"""The archive's fault run (issue 14): 100k lines through outbox → relay → Kafka-wire broker → archiver →
MariaDB while the archive process is killed -9, the broker is restarted and MariaDB is restarted; then every
published line is looked up. Run through ``python -m bench.archive_bench --faults``.

It restarts the machine's MariaDB: run it when nothing else uses it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.archive_bench import ADMIN, REPO, drop, events, mariadb_url, settings_for
from bot.events.outbox import publish
from bot.storage import migrate
from bot.storage.db import Database
from tests.wire_servers import KafkaWire


def restart_mariadb() -> float:
    import pymysql

    started = time.monotonic()
    conn = pymysql.connect(**ADMIN)
    with conn.cursor() as cur:
        cur.execute("SHUTDOWN")
    conn.close()
    while subprocess.run(["pgrep", "-x", "mariadbd"], capture_output=True).returncode == 0:
        time.sleep(0.2)  # until the old server has exited: starting earlier would find it still running
    while True:
        subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec", "/usr/sbin/mariadbd",
                        "--", "--user=mysql"], check=False)  # fmt: skip
        for _ in range(20):
            try:
                pymysql.connect(**ADMIN, connect_timeout=1).close()
                return time.monotonic() - started
            except pymysql.err.OperationalError:
                time.sleep(0.5)


class ArchiveProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.env, self.proc = env, None
        self.url = f"http://127.0.0.1:{env['CSBOT_SERVICES__ARCHIVE_PORT']}/health"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "handoff.archive"], cwd=REPO, env=self.env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        for _ in range(300):
            try:
                httpx.get(self.url, timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def producer(db: Database, n: int, rate: int, published: set[int], done: threading.Event) -> None:
    """Batches of 500 in their own transactions; a batch the database refused is sent again (its ids are the same,
    so a batch whose commit did land but whose answer was lost is archived once)."""
    batch, started, sent = [], time.perf_counter(), 0
    for e in events(n, 1002, seed=5):
        batch.append(e)
        if len(batch) < 500:
            continue
        while True:
            try:
                with db.session() as s:
                    publish(s, batch)
                break
            except Exception:  # MariaDB restarting
                time.sleep(0.5)
        published.update(x.id for x in batch)
        sent += len(batch)
        batch = []
        ahead = started + sent / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    done.set()


def fault_run(n: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        broker = KafkaWire(Path(tmp) / "kafka").start()
        url = mariadb_url()
        archive = None
        try:
            _, env = settings_for(Path(tmp) / "home", url, broker.bootstrap, False)
            db = Database(url)
            migrate.upgrade(db.engine)
            archive = ArchiveProcess(env)
            archive.start()
            published: set[int] = set()
            done = threading.Event()
            rate = max(1000, n // 20)
            t = threading.Thread(target=producer, args=(db, n, rate, published, done), daemon=True)
            t.start()
            log = []
            time.sleep(4)
            archive.kill9()
            log.append(("archive killed -9", len(published)))
            archive.start()
            time.sleep(4)
            broker.restart()
            log.append(("broker restarted", len(published)))
            time.sleep(4)
            took = restart_mariadb()
            log.append((f"MariaDB restarted ({took:.1f} s down)", len(published)))
            done.wait(300)
            deadline = time.monotonic() + 300
            got: set[int] = set()
            rows = 0
            while time.monotonic() < deadline:
                try:
                    with db.engine.connect() as conn:
                        ids = conn.execute(text("SELECT msg_id FROM cs_message")).scalars().all()
                    rows, got = len(ids), set(ids)
                    if got >= published:
                        break
                except Exception:
                    pass
                time.sleep(1)
            lost = published - got
            where = {}
            if lost:  # where the missing lines stopped: the outbox, the topic, or the archiver
                with db.engine.connect() as conn:
                    in_outbox = set(conn.execute(text("SELECT event_id FROM cs_outbox")).scalars().all())
                from kafka import KafkaConsumer

                topic = KafkaConsumer("chat.msg", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                                      consumer_timeout_ms=5000)  # fmt: skip
                import json as _json

                on_topic = {int(_json.loads(m.value)["id"]) for m in topic}
                topic.close()
                where = {"lost_in_outbox": len(lost & in_outbox), "lost_on_topic": len(lost & on_topic),
                         "lost_ids": sorted(lost)[:3]}  # fmt: skip
            print({"faults": log, "published": len(published), "archived_rows": rows, **where,
                   "lost": len(published - got), "duplicated": rows - len(got),
                   "foreign_rows": len(got - published)}, flush=True)  # fmt: skip
            db.dispose()
            return 0 if published == got and rows == len(got) else 1
        finally:
            if archive is not None:
                archive.stop()
            broker.stop()
            drop(url)

