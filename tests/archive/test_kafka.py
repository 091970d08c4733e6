"""The stream on a Kafka-wire broker (noida-db, platform-facts): the outbox relay, the archiver as a consumer
group, a malformed record on the topic, and a broker restart in the middle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer

from bot.crypto import cipher_from_settings
from bot.events.outbox import event, publish
from bot.events.stream import create_consumer
from bot.events.stream.kafka import KafkaRelay
from bot.settings import Settings, load_settings
from bot.storage.db import Database
from handoff.archive.archiver import Archiver

from ..conftest import REPO
from ..wire_servers import KafkaWire, free_port
from .test_archiver import archived, count

pytestmark = pytest.mark.slow


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[KafkaWire]:
    k = KafkaWire(tmp_path / "kafka").start()
    yield k
    k.stop()


@pytest.fixture
def kafka_env(env: dict[str, str], db_url: str, broker: KafkaWire, tmp_path: Path) -> dict[str, str]:
    topic = f"t{tmp_path.name[-6:]}"
    return {**env, "CSBOT_DATABASE__URL": db_url, "CSBOT_EVENTS__TYPE": "kafka",
            "CSBOT_EVENTS__BOOTSTRAP_SERVERS": broker.bootstrap,
            "CSBOT_EVENTS__SESSION_TIMEOUT_MS": "6000", "CSBOT_EVENTS__SEND_TIMEOUT_SECONDS": "3",
            "CSBOT_EVENTS__TOPICS__MESSAGE": f"{topic}.msg",
            "CSBOT_TRACKER_STORE__TYPE": "redis"}  # one outbox: the platform's  # fmt: skip


@pytest.fixture
def kafka_settings(kafka_env: dict[str, str]) -> Settings:
    from bot.ids import configure

    configure(11)
    return load_settings(kafka_env)


def drain(archiver: Archiver, relay: KafkaRelay, want: int, db: Database, rounds: int = 60) -> None:
    from bot.storage.models import Message

    for _ in range(rounds):
        relay.run_once(0.1)
        archiver.run_once(0.5)
        if count(db, Message) >= want:
            return


def test_lines_reach_the_archive_through_kafka_across_a_broker_restart(kafka_settings: Settings, db: Database,
                                                                        broker: KafkaWire) -> None:  # fmt: skip
    with db.session() as s:
        publish(s, [event("message", "t1", f"t1:u{i % 3}", {"role": "customer", "text": f"第{i}句"})
                    for i in range(30)])
        publish(s, [event("session", "t1", "t1:u0", {"event": "queued"})])
    relay = KafkaRelay(kafka_settings)
    archiver = Archiver(db, create_consumer(kafka_settings, "archiver"), cipher_from_settings(kafka_settings))
    drain(archiver, relay, 30, db)
    broker.restart()  # graceful: noida-db keeps its data
    with db.session() as s:
        publish(s, [event("message", "t1", "t1:u0", {"role": "bot", "text": f"重启后{i}"}) for i in range(10)])
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(kafka_settings.raw["events"]["topics"]["message"], key=b"t1:u0", value=b"{not an event")
    producer.flush()
    producer.close()
    drain(archiver, relay, 40, db)
    texts = sorted(t for _, _, t in archived(db, cipher_from_settings(kafka_settings)))
    assert texts == sorted([f"第{i}句" for i in range(30)] + [f"重启后{i}" for i in range(10)])
    for conv in ("t1:u0", "t1:u1", "t1:u2"):  # one conversation on one partition: in order
        mine = [t for c, _, t in archived(db, cipher_from_settings(kafka_settings)) if c == conv and "句" in t]
        assert mine == sorted(mine, key=lambda t: int(t[1:-1]))
    from bot.storage.models import DeadLetter

    idle = 0
    for _ in range(40):  # until caught up: a batch whose commit the restart refused is read and committed again
        idle = idle + 1 if archiver.run_once(0.3) == 0 else 0
        if idle == 3:
            break
    assert count(db, DeadLetter) == 1  # parked once, though read twice
    relay.close()
    archiver.consumer.close()
    again = Archiver(db, create_consumer(kafka_settings, "archiver"), cipher_from_settings(kafka_settings))
    assert again.run_once(2.0) == 0  # the group committed everything it archived
    again.consumer.close()
    session_topic = KafkaConsumer("chat.session", bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest",
                                  consumer_timeout_ms=3000)  # fmt: skip
    changes = [json.loads(m.value) for m in session_topic]
    session_topic.close()
    assert [(c["kind"], c["key"], c["data"]["event"]) for c in changes] == [("session", "t1:u0", "queued")]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the relay's behaviour, whatever the database
def test_a_batch_the_broker_did_not_take_is_sent_again(kafka_settings: Settings, db: Database,
                                                       broker: KafkaWire) -> None:  # fmt: skip
    with db.session() as s:
        publish(s, [event("message", "t1", "t1:u1", {"role": "customer", "text": f"第{i}句"}) for i in range(5)])
    relay = KafkaRelay(kafka_settings)
    broker.stop()  # the broker away: the sends fail, the batch is not committed
    with pytest.raises(Exception):  # noqa: B017 - whatever kafka-python raises for an unreachable broker
        relay.run_once(0.1)
    broker.start()
    archiver = Archiver(db, create_consumer(kafka_settings, "archiver"), cipher_from_settings(kafka_settings))
    drain(archiver, relay, 5, db)
    assert sorted(t for _, _, t in archived(db, cipher_from_settings(kafka_settings))) == [f"第{i}句" for i in range(5)]
    relay.close()
    archiver.consumer.close()


@pytest.mark.parametrize("db_url", ["mariadb"], indirect=True)
def test_a_restarted_archive_takes_its_partitions_straight_back(kafka_settings: Settings, kafka_env: dict[str, str],
                                                                db: Database, tmp_path: Path) -> None:  # fmt: skip
    """kill -9 of the archive process, then a supervisor's restart under the same ``events.instance_id``: the new
    process resumes from the committed offsets, nothing lost, nothing archived twice. (noida-db never expires a
    member that stopped heartbeating, so without static membership the restarted process would wait for ever
    here; a real broker would wait for ``session_timeout_ms`` first.)"""
    from bot.storage.models import Message

    child = {**kafka_env, "CSBOT_ARCHIVE__INDEX": "false", "CSBOT_SERVICES__ARCHIVE_PORT": str(free_port()),
             "CSBOT_EVENTS__INSTANCE_ID": "archive-1"}  # fmt: skip

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "handoff.archive"], cwd=REPO, env=child, start_new_session=True,
                                stdout=(tmp_path / "archive.log").open("ab"), stderr=subprocess.STDOUT)  # fmt: skip

    def until(n: int, proc: subprocess.Popen[bytes], seconds: float) -> float:
        started = time.monotonic()
        while count(db, Message) < n:
            assert proc.poll() is None, (tmp_path / "archive.log").read_text()[-3000:]
            assert time.monotonic() - started < seconds, f"{count(db, Message)} of {n} archived"
            time.sleep(0.2)
        return time.monotonic() - started

    def say(first: int, n: int) -> None:
        with db.session() as s:
            publish(s, [event("message", "t1", f"t1:u{i % 3}", {"role": "customer", "text": f"第{i}句"})
                        for i in range(first, first + n)])  # fmt: skip

    say(0, 20)
    proc = start()
    try:
        until(20, proc, 90)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        say(20, 15)
        proc = start()
        took = until(35, proc, 60)
        time.sleep(2)  # anything read twice would land now
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    texts = sorted(t for _, _, t in archived(db, cipher_from_settings(kafka_settings)))
    assert texts == sorted(f"第{i}句" for i in range(35))
    print(f"restarted archive caught up in {took:.1f} s")

