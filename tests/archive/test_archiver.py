"""The archiver: stream → cs_message, sealed, idempotent, bad records parked, restartable anywhere."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.crypto import Cipher, SealError, cipher_from_settings
from bot.events.envelope import conversation_number
from bot.events.outbox import event, publish
from bot.events.stream.sql import OutboxConsumer
from bot.events.table import outbox
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.models import DeadLetter, Message
from handoff.archive.archiver import Archiver, aad


def consumer(db: Database) -> OutboxConsumer:
    return OutboxConsumer("archiver", {"platform": db.engine}, db.engine, ("message",), cipher=db.cipher)


def say(db: Database, key: str, *lines: tuple[str, str], tenant: str = "t1", **extra: Any) -> None:
    with db.session() as s:
        publish(s, [event("message", tenant, key, {"role": role, "text": text, "customer": "u1", **extra})
                    for role, text in lines])  # fmt: skip


def archived(db: Database, cipher: Cipher) -> list[tuple[str, int, str]]:
    with db.session() as s:
        rows = s.scalars(select(Message).order_by(Message.msg_id)).all()
        return [(r.conversation_id, r.sender_role or 0,
                 json.loads(cipher.open(r.key_id, r.content, aad(r.tenant_id, r.msg_id)))["text"]) for r in rows]


def count(db: Database, model: Any) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model.__table__)).scalar() or 0)


def test_lines_are_archived_sealed_in_order_per_conversation(db: Database, stream_settings: Settings) -> None:
    cipher = cipher_from_settings(stream_settings)
    say(db, "t1:u1", ("customer", "我手机号13812345678 快递到哪了"), ("bot", "帮您查一下"))
    say(db, "t1:u1", ("agent", "您好 我是小王"), agent_id=42)
    say(db, "t1:u1", ("customer", "发票呢"))
    with db.session() as s:  # a session state change on the stream is not a line
        publish(s, [event("session", "t1", "t1:u1", {"event": "queued"})])
    a = Archiver(db, consumer(db), cipher)
    assert a.run_once(0.1) == 4
    assert archived(db, cipher) == [("t1:u1", 0, "我手机号13812345678 快递到哪了"), ("t1:u1", 2, "帮您查一下"),
                                    ("t1:u1", 1, "您好 我是小王"), ("t1:u1", 0, "发票呢")]  # fmt: skip
    with db.session() as s:
        rows = s.scalars(select(Message)).all()
        assert {r.session_id for r in rows} == {conversation_number("t1", "t1:u1")}
        assert [r.sender_id for r in rows if r.sender_role == 1] == [42]
        assert all(b"13812345678" not in r.content and "小王".encode() not in r.content for r in rows)
        assert {r.customer_ref for r in rows} == {"u1"}
    assert a.run_once(0.1) == 0


def test_a_batch_read_again_after_a_crash_adds_no_duplicate(db: Database, stream_settings: Settings) -> None:
    cipher = cipher_from_settings(stream_settings)
    say(db, "t1:u1", *[("customer", f"第{i}句") for i in range(10)])
    crashing = consumer(db)

    def die(records: Any = ()) -> None:  # killed after the database commit, before the stream commit
        raise KeyboardInterrupt("killed")

    crashing.commit = die  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        Archiver(db, crashing, cipher).run_once(0.1)
    assert count(db, Message) == 10
    say(db, "t1:u1", ("customer", "第10句"))
    again = Archiver(db, consumer(db), cipher)  # the restarted process reads the batch again
    assert again.run_once(0.1) == 11
    assert [t for _, _, t in archived(db, cipher)] == [f"第{i}句" for i in range(11)]


def test_a_failed_insert_leaves_the_batch_to_be_read_again(db: Database, stream_settings: Settings) -> None:
    cipher = cipher_from_settings(stream_settings)
    say(db, "t1:u1", ("customer", "在吗"), ("bot", "在的"))
    a = Archiver(db, consumer(db), cipher)
    with db.engine.begin() as conn:  # the table away: the database refuses the insert
        conn.execute(text("ALTER TABLE cs_message RENAME TO cs_message_away"))
    with pytest.raises(DBAPIError):
        a.run_once(0.1)
    with db.engine.begin() as conn:
        conn.execute(text("ALTER TABLE cs_message_away RENAME TO cs_message"))
    assert count(db, Message) == 0
    assert a.run_once(0.1) == 2 and count(db, Message) == 2


def test_foreign_and_malformed_records_are_parked_and_the_rest_archived(db: Database,
                                                                       stream_settings: Settings) -> None:
    say(db, "t1:u1", ("customer", "好的"))
    bad = [b"not json", json.dumps({"v": 1, "kind": "message", "id": "77", "tenant": "t1", "key": "t1:u1",
                                    "at": 1.0, "data": {"role": "hacker", "text": "x"}}).encode()]  # fmt: skip
    with db.engine.begin() as conn:
        conn.execute(outbox.insert(), [{"event_id": 0, "tenant_id": "t1", "stream_key": "t1:u1", "kind": "message",
                                        "body": b.decode(), "created_at": 0} for b in bad])  # fmt: skip
    say(db, "t1:u1", ("bot", "还有什么可以帮您"))
    cipher = cipher_from_settings(stream_settings)
    a = Archiver(db, consumer(db), cipher)
    assert a.run_once(0.1) == 4
    assert [t for _, _, t in archived(db, cipher)] == ["好的", "还有什么可以帮您"]
    with db.session() as s:
        parked = s.scalars(select(DeadLetter).order_by(DeadLetter.position)).all()
        assert [p.reason for p in parked] == ["not JSON: Expecting value: line 1 column 1 (char 0)",
                                              "message without a role of customer, bot or agent"]  # fmt: skip
        assert parked[0].body == "not json" and parked[0].group_name == "archiver"
    Archiver(db, consumer(db), cipher).run_once(0.1)  # nothing left to read; a replay would park nothing new
    assert count(db, DeadLetter) == 2


def test_keys_rotate_and_a_moved_or_altered_body_does_not_open(db: Database, stream_settings: Settings) -> None:
    k1, k2 = base64.b64encode(b"1" * 32).decode(), base64.b64encode(b"2" * 32).decode()
    old = Cipher("k1", {"k1": base64.b64decode(k1)})
    say(db, "t1:u1", ("customer", "旧钥匙"))
    Archiver(db, consumer(db), old).run_once(0.1)
    new = Cipher("k2", {"k1": base64.b64decode(k1), "k2": base64.b64decode(k2)})
    say(db, "t1:u1", ("customer", "新钥匙"))
    Archiver(db, consumer(db), new).run_once(0.1)
    assert [t for _, _, t in archived(db, new)] == ["旧钥匙", "新钥匙"]
    with db.session() as s:
        rows = s.scalars(select(Message).order_by(Message.msg_id)).all()
        assert [r.key_id for r in rows] == ["k1", "k2"]
        with pytest.raises(SealError):
            new.open(rows[0].key_id, rows[0].content, aad("t1", rows[1].msg_id))  # another row's body
        with pytest.raises(SealError):
            new.open("k1", rows[0].content[:-1] + bytes([rows[0].content[-1] ^ 1]), aad("t1", rows[0].msg_id))
        with pytest.raises(SealError, match="no key"):
            old.open("k2", rows[1].content, aad("t1", rows[1].msg_id))


def test_the_indexer_group_puts_a_masked_copy_in_the_search_index(db: Database, stream_settings: Settings) -> None:
    from bot.events.stream import create_consumer
    from handoff.archive.indexer import GROUP, Indexer
    from handoff.search import MessageQuery, create_message_index

    say(db, "t1:u1", ("customer", "退款还没到账 我电话13812345678"), ("bot", "退款一般3到5天到账"))
    say(db, "t2:u9", ("customer", "退款呢"), tenant="t2")
    index = create_message_index(stream_settings)
    ix = Indexer(create_consumer(stream_settings, GROUP), index)
    assert ix.run_once(0.1) == 3 and ix.indexed == 3
    ix.consumer.close()
    again = Indexer(create_consumer(stream_settings, GROUP), index)  # its group committed: nothing re-read
    assert again.run_once(0.1) == 0
    again.consumer.close()
    hits = index.search("t1", MessageQuery(words="退款")).hits
    assert sorted(h.role for h in hits) == ["bot", "customer"]
    assert all("13812345678" not in h.snippet for h in hits) and all(h.conversation_id == "t1:u1" for h in hits)
    assert [h.conversation_id for h in index.search("t2", MessageQuery(words="退款")).hits] == ["t2:u9"]
    index.close()
