"""Key rotation end to end, on SQLite and the machine's MariaDB (and the Redis tracker store): rows sealed under
k1 (and plain rows from before sealing) are re-sealed under k2 by `csbot keys rotate`; k1 and the derived key
are then removed and everything still opens. The job is audited, idempotent and reports per-key counts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select, text
from typer.testing import CliRunner

from bot.cli.keys import keys_app
from bot.crypto import cipher_from_settings, new_key
from bot.events.envelope import StreamEvent, parse
from bot.events.outbox import publish
from bot.events.stream.sql import OutboxConsumer
from bot.ids import configure, new_id
from bot.rasa_env import prepare_tracker_store
from bot.settings import load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.storage.models import AuditLog, Message, Ticket, TicketComment
from bot.storage.sealed import TRACKER_EVENTS
from handoff.archive.archiver import aad, row_of
from handoff.models import AgentFeed, HandoffLine, LeftMessage

PHONE = "13812345678"
K1, K2 = new_key(), new_key()
runner = CliRunner()


@pytest.fixture(params=["sqlite", "mariadb"])
def homes(request: pytest.FixtureRequest, env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, dict]]:
    """The same home under three key settings: k1 current, k2 current with k1 kept, k2 alone."""
    configure(7)
    base = dict(env)
    if request.param == "mariadb":
        base["CSBOT_DATABASE__URL"] = request.getfixturevalue("mariadb_url")  # the tracker store shares it
    yield {
        "k1": {**base, "CSBOT_ENCRYPTION__KEY_ID": "k1", "CSBOT_ENCRYPTION__KEYS__K1": K1},
        "both": {**base, "CSBOT_ENCRYPTION__KEY_ID": "k2", "CSBOT_ENCRYPTION__KEYS__K1": K1,
                 "CSBOT_ENCRYPTION__KEYS__K2": K2},
        "k2": {**base, "CSBOT_ENCRYPTION__KEY_ID": "k2", "CSBOT_ENCRYPTION__KEYS__K2": K2,
               "CSBOT_ENCRYPTION__DERIVED_KEY": "false"},
    }  # fmt: skip


def tracker_engine(settings: object, base_url: str) -> sa.engine.Engine:
    if base_url.startswith("mysql"):
        prepare_tracker_store(settings)  # Rasa's events table in the shared database, as `csbot setup` makes it
        return sa.create_engine(base_url)
    engine = sa.create_engine(f"sqlite:///{settings.home / 'rasa_trackers.db'}")  # type: ignore[attr-defined]
    with engine.begin() as conn:  # Rasa's own schema for the events table
        conn.execute(text("CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id VARCHAR(255) NOT "
                          "NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                          "action_name VARCHAR(255), data TEXT)"))  # fmt: skip
    return engine


def write_everything(db: Database, trackers: sa.engine.Engine, cipher: object) -> dict[str, int]:
    made = {k: new_id() for k in ("line", "session", "left", "old_left", "ticket", "comment", "event")}
    with db.session() as s:
        s.add(HandoffLine(msg_id=made["line"], session_id=made["session"], tenant_id="t1", sender_id=1,
                          content=json.dumps({"text": f"电话{PHONE}"}, ensure_ascii=False)))  # fmt: skip
        s.add(LeftMessage(left_id=made["left"], tenant_id="t1", conversation_id="t1:u1", text=f"回电{PHONE}"))
        s.add(AgentFeed(tenant_id="t1", agent_id=None, kind="message", session_id=made["session"],
                        payload={"text": f"手机{PHONE}"}, at=1.0))  # fmt: skip
        s.add(Ticket(ticket_id=made["ticket"], tenant_id="t1", title="回电", description=f"号码{PHONE}"))
        s.add(TicketComment(comment_id=made["comment"], tenant_id="t1", ticket_id=made["ticket"], content="已联系"))
        publish(s, [StreamEvent(made["event"], "message", "t1", "t1:u1", 1.0, {"role": "customer", "text": "在吗"})])
    with db.engine.begin() as conn:
        conn.execute(Message.__table__.insert(), [row_of(StreamEvent(new_id(), "message", "t1", "t1:u1", 1.0,
                                                                     {"role": "customer", "text": f"归档{PHONE}"}),
                                                         cipher)])  # type: ignore[arg-type]  # fmt: skip
        conn.execute(text("INSERT INTO cs_left_message (left_id, tenant_id, conversation_id, text, status) "
                          "VALUES (:i, 't1', 't1:u1', '升级前的留言', 'new')"), {"i": made["old_left"]})  # fmt: skip
    insert = text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES ('t1:u1', :t, 1.0, :d)")
    with trackers.begin() as conn:
        for data in ({"event": "user", "text": f"我的手机{PHONE}"}, {"event": "bot", "text": "好的"}):
            sealed = TRACKER_EVENTS.seal(cipher, json.dumps(data, ensure_ascii=False), {"sender_id": "t1:u1"})  # type: ignore[arg-type]
            conn.execute(insert, {"t": data["event"], "d": sealed})
        conn.execute(insert, {"t": "user", "d": json.dumps({"event": "user", "text": "升级前的话"})})  # Rasa's own
    return made


def counts(env: dict[str, str]) -> dict[str, dict[str, int]]:
    """`csbot keys status --json`: rows per key id, per store."""
    lines = invoke(env, "status", "--json").splitlines()
    return {doc["store"]: doc["keys"] for doc in map(json.loads, lines)}


def invoke(env: dict[str, str], *args: str) -> str:
    result = runner.invoke(keys_app, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_rotate_then_remove_the_old_keys_and_everything_still_opens(homes: dict[str, dict]) -> None:
    first = load_settings(homes["k1"])
    db = Database.from_settings(first)
    migrate.upgrade(db.engine)
    trackers = tracker_engine(first, first.database_url)
    try:
        made = write_everything(db, trackers, db.cipher)
    finally:
        db.dispose()
    before = counts(homes["both"])
    assert before["cs_left_message.text"] == {"k1": 1, "(plain)": 1}  # one sealed, one from before sealing
    assert before["events.data"] == {"k1": 2, "(plain)": 1} and before["cs_agent_feed.payload"] == {"k1": 1}
    assert before["cs_message.content"] == {"k1": 1} and before["cs_outbox.body"] == {"k1": 1}

    out = invoke(homes["both"], "rotate", "--batch", "2")  # several batches per table
    assert "did not open 0" in out and "nothing is sealed under k1, h1" in out
    again = invoke(homes["both"], "rotate")  # idempotent: nothing left to do
    assert "re-sealed 1" not in again and "re-sealed 2" not in again

    last = load_settings(homes["k2"])
    after = counts(homes["k2"])
    assert after["cs_left_message.text"] == {"k2": 2} and after["events.data"] == {"k2": 3}
    assert all(set(keys) <= {"k2"} for keys in after.values()), after
    db = Database.from_settings(last)
    cipher = db.cipher
    assert set(cipher.keys) == {"k2"}
    try:
        with db.session() as s:
            assert PHONE in s.get(HandoffLine, (made["line"], made["session"])).content
            assert s.get(LeftMessage, made["left"]).text == f"回电{PHONE}"
            assert s.get(LeftMessage, made["old_left"]).text == "升级前的留言"
            assert s.scalars(select(AgentFeed)).one().payload == {"text": f"手机{PHONE}"}
            assert s.get(Ticket, made["ticket"]).description == f"号码{PHONE}"
            assert s.get(TicketComment, made["comment"]).content == "已联系"
            m = s.scalars(select(Message)).one()
            assert m.key_id == "k2" and PHONE in cipher.open(m.key_id, m.content, aad(m.tenant_id, m.msg_id)).decode()
            reseals = s.scalars(select(AuditLog).where(AuditLog.action == "encryption.reseal")).all()
            assert {a.detail["store"] for a in reseals} >= {"cs_handoff_line.content", "events.data",
                                                             "cs_message.content"}  # fmt: skip
        got = OutboxConsumer("g", {"platform": db.engine}, db.engine, ("message",), cipher=cipher).poll(10, 1.0)
        assert parse(got[0].value).data["text"] == "在吗"
        with trackers.connect() as conn:
            rows = conn.execute(text("SELECT data FROM events ORDER BY id")).all()
        assert all(r.data.startswith("enc:v1:k2:") for r in rows)
        texts = [json.loads(TRACKER_EVENTS.open(cipher, r.data, {"sender_id": "t1:u1"}))["text"] for r in rows]
        assert texts == [f"我的手机{PHONE}", "好的", "升级前的话"]
        with db.engine.connect() as conn:
            for table, col in (("cs_handoff_line", "content"), ("cs_left_message", "text"),
                               ("cs_ticket", "description"), ("cs_ticket_comment", "content"),
                               ("cs_outbox", "body")):  # fmt: skip
                assert all(str(v).startswith("enc:v1:k2:") for (v,) in conn.execute(text(f"SELECT {col} FROM {table}")))
    finally:
        db.dispose()
        trackers.dispose()


@pytest.mark.redis
def test_rotation_reseals_the_redis_tracker_store(env: dict[str, str], redis_db: int) -> None:
    import redis

    configure(7)
    store = {"CSBOT_TRACKER_STORE__TYPE": "redis", "CSBOT_TRACKER_STORE__URL": f"redis://127.0.0.1:6379/{redis_db}"}
    k1 = {**env, **store, "CSBOT_ENCRYPTION__KEY_ID": "k1", "CSBOT_ENCRYPTION__KEYS__K1": K1}
    both = {**k1, "CSBOT_ENCRYPTION__KEY_ID": "k2", "CSBOT_ENCRYPTION__KEYS__K2": K2}
    migrate.upgrade((db := Database.from_settings(load_settings(k1))).engine)
    db.dispose()
    client = redis.Redis(host="127.0.0.1", port=6379, db=redis_db, decode_responses=True)
    try:
        old = cipher_from_settings(load_settings(k1))
        doc = json.dumps({"events": [{"event": "user", "text": f"手机{PHONE}"}]}, ensure_ascii=False)
        client.set("csbot:tracker:t1:u5", TRACKER_EVENTS.seal(old, doc, {"sender_id": "t1:u5"}), ex=3600)
        client.set("csbot:tracker:t1:u6", json.dumps({"events": []}))  # written before sealing
        invoke(both, "rotate")
        new = cipher_from_settings(load_settings({**both, "CSBOT_ENCRYPTION__DERIVED_KEY": "false"}))
        value = client.get("csbot:tracker:t1:u5")
        assert value.startswith("enc:v1:k2:") and 0 < client.ttl("csbot:tracker:t1:u5") <= 3600  # TTL kept
        assert TRACKER_EVENTS.open(new, value, {"sender_id": "t1:u5"}) == doc
        assert client.get("csbot:tracker:t1:u6").startswith("enc:v1:k2:")
    finally:
        client.delete("csbot:tracker:t1:u5", "csbot:tracker:t1:u6")
        client.close()


def test_keys_new_prints_settings_for_the_next_free_key(env: dict[str, str]) -> None:
    import base64

    import yaml

    doc = yaml.safe_load(invoke({**env, "CSBOT_ENCRYPTION__KEYS__K1": K1}, "new"))["encryption"]
    assert doc["key_id"] == "k2" and len(base64.b64decode(doc["keys"]["k2"])) == 32
    refused = runner.invoke(keys_app, ["new", "--key-id", "h1"], env=env)
    assert refused.exit_code == 2 and "not in use" in refused.output
