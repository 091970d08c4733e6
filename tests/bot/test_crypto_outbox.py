"""The outbox (cs_outbox) holds sealed bodies; the stream's reader opens them, and reads rows from before
sealing as they are; on SQLite and the machine's MariaDB."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.events.envelope import StreamEvent, parse
from bot.events.outbox import publish
from bot.events.stream.sql import OutboxConsumer
from bot.events.table import outbox
from bot.settings import load_settings
from bot.storage import migrate
from bot.storage.db import Database

PHONE = "13812345678"


@pytest.fixture(params=["sqlite", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Path, env: dict[str, str]) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'cs.db'}" if request.param == "sqlite" else request.getfixturevalue("mariadb_url")
    database = Database.from_settings(load_settings({**env, "CSBOT_DATABASE__URL": url}))
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def line(event_id: int, text_: str, tenant: str = "t1") -> StreamEvent:
    return StreamEvent(event_id, "message", tenant, f"{tenant}:u1", 1.0, {"role": "customer", "text": text_})


def bodies(db: Database) -> list[str]:
    with db.engine.connect() as conn:
        return [r[0] for r in conn.execute(text("SELECT body FROM cs_outbox ORDER BY seq"))]


def test_bodies_are_sealed_and_the_reader_opens_them(db: Database) -> None:
    with db.session() as s:
        publish(s, [line(101, f"手机{PHONE}"), line(102, "第二句")])
    assert all(b.startswith("enc:v1:h1:") and PHONE not in b for b in bodies(db))
    got = OutboxConsumer("g", {"platform": db.engine}, db.engine, ("message",), cipher=db.cipher).poll(10, 1.0)
    assert [parse(r.value).data["text"] for r in got] == [f"手机{PHONE}", "第二句"]


def test_rows_from_before_sealing_are_read_as_they_are(db: Database) -> None:
    with db.engine.begin() as conn:  # a bare connection carries no cipher: the row is written plain
        publish(conn, [line(201, "升级前的一句")])
    assert bodies(db)[0].startswith("{")
    got = OutboxConsumer("g", {"platform": db.engine}, db.engine, ("message",), cipher=db.cipher).poll(10, 1.0)
    assert parse(got[0].value).data["text"] == "升级前的一句"


def test_a_body_moved_to_another_row_is_handed_on_unopened(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    with db.session() as s:
        publish(s, [line(301, f"t1 的 {PHONE}"), line(302, "t2 的", tenant="t2")])
    first, _ = bodies(db)
    with db.engine.begin() as conn:
        conn.execute(outbox.update().where(outbox.c.event_id == 302).values(body=first))
    consumer = OutboxConsumer("g", {"platform": db.engine}, db.engine, ("message",), cipher=db.cipher)
    with caplog.at_level(logging.ERROR, "bot.events.stream.sql"):
        got = consumer.poll(10, 1.0)
    assert parse(got[0].value).data["text"] == f"t1 的 {PHONE}"
    assert got[1].value == first.encode()  # not JSON: its reader parks it, nobody reads t1's line as t2's
    assert "does not open" in caplog.text and PHONE not in caplog.text
