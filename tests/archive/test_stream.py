"""The event stream: the envelope, what the tracker store publishes, and the outbox read as a stream."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import func, select, text

from bot.events.envelope import BadEvent, StreamEvent, conversation_number, parse
from bot.events.outbox import event, publish
from bot.events.stream.sql import OutboxConsumer
from bot.events.table import outbox
from bot.storage.db import Database
from channels.archive_feed import messages_of, tenant_and_customer


def line(key: str, text_: str, role: str = "customer", tenant: str = "t1") -> StreamEvent:
    return event("message", tenant, key, {"role": role, "text": text_})


def consumer(db: Database, group: str = "g", kinds: tuple[str, ...] = ("message",), **kw: Any) -> OutboxConsumer:
    return OutboxConsumer(group, {"platform": db.engine}, db.engine, kinds, cipher=db.cipher, **kw)


# --- the envelope ---------------------------------------------------------------------------------------
def test_an_event_survives_the_wire() -> None:
    e = StreamEvent(123456789, "message", "t1", "t1:u1", 1700000000.25, {"role": "agent", "text": "您好 在的"})
    back = parse(e.to_bytes())
    assert back == e


@pytest.mark.parametrize("raw, reason", [
    (b"\xff\xfe", "not JSON"), (b"[1,2]", "not a JSON object"), (b'{"v": 2}', "unknown version"),
    (b'{"v":1,"kind":"gossip","id":"1","tenant":"t","key":"k","at":1,"data":{}}', "unknown kind"),
    (b'{"v":1,"kind":"message","id":"-5","tenant":"t","key":"k","at":1,"data":{}}', "Snowflake"),
    (b'{"v":1,"kind":"message","id":"5","tenant":"","key":"k","at":1,"data":{}}', "tenant or key"),
    (b'{"v":1,"kind":"message","id":"5","tenant":"t","key":"k","at":"x","data":{}}', "at"),
    (b'{"v":1,"kind":"message","id":"5","tenant":"t","key":"k","at":1,"data":{"role":"boss"}}', "role"),
    (b'{"v":1,"kind":"message","id":"5","tenant":"t","key":"k","at":1,"data":{"role":"bot","text":7}}', "text"),
    (b"{" + b" " * 300_000 + b"}", "larger than"),
])  # fmt: skip
def test_a_foreign_or_malformed_record_says_what_is_wrong(raw: bytes, reason: str) -> None:
    with pytest.raises(BadEvent, match=reason):
        parse(raw)


def test_a_conversation_number_is_stable_positive_and_tenant_scoped() -> None:
    a = conversation_number("t1", "t1:u1")
    assert a == conversation_number("t1", "t1:u1") and 0 < a < 2**63
    assert a != conversation_number("t2", "t1:u1")


# --- what the tracker store publishes ---------------------------------------------------------------------
def test_lines_of_a_tracker_batch_become_message_events() -> None:
    ids = iter(range(100, 200))
    events = [
        {"event": "action", "name": "action_listen", "timestamp": 1.0},
        {"event": "user", "text": "退货运费谁出", "timestamp": 2.0, "input_channel": "socketio",
         "parse_data": {"intent": {"name": "ask_question"}}},
        {"event": "bot", "text": "退货运费由卖家承担哦", "timestamp": 3.0, "data": {"buttons": [{"title": "转人工"}]}},
        {"event": "bot", "text": "您好 我是小王", "timestamp": 4.0, "metadata": {"handoff": True,
                                                                    "agent": {"id": "42", "name": "小王"}}},
        {"event": "user", "text": "/send_file", "timestamp": 5.0, "metadata": {"file": {"name": "a.jpg", "key": "k1"}}},
        {"event": "slot", "name": "order_id", "value": "123", "timestamp": 6.0},
        {"event": "bot", "text": None, "timestamp": 7.0, "data": {}},
    ]  # fmt: skip
    out = messages_of("shop1:u1001", events, "default", lambda: next(ids))
    assert [(e.data["role"], e.data["text"]) for e in out] == [
        ("customer", "退货运费谁出"), ("bot", "退货运费由卖家承担哦"), ("agent", "您好 我是小王"), ("customer", "")]
    assert {e.tenant for e in out} == {"shop1"} and {e.key for e in out} == {"shop1:u1001"}
    assert out[0].data["intent"] == "ask_question" and out[0].data["channel"] == "socketio"
    assert out[1].data["buttons"] == ["转人工"] and out[2].data["agent_id"] == 42
    assert out[3].data["file"] == {"name": "a.jpg", "key": "k1"} and out[0].data["customer"] == "u1001"
    assert [e.id for e in out] == [100, 101, 102, 103] and [e.at for e in out] == [2.0, 3.0, 4.0, 5.0]


def test_a_visitor_belongs_to_the_default_tenant() -> None:
    assert tenant_and_customer("visitor_9", "default") == ("default", "visitor_9")
    assert tenant_and_customer("shop2:u7", "default") == ("shop2", "u7")


# --- the outbox as a stream ---------------------------------------------------------------------------------
def test_the_outbox_is_read_in_order_and_resumes_where_the_group_committed(db: Database) -> None:
    with db.session() as s:
        publish(s, [line("t1:a", f"第{i}句") for i in range(5)])
        publish(s, [event("session", "t1", "t1:a", {"event": "queued"})])
    with db.session() as s:
        publish(s, [line("t1:b", "在吗")])
    c = consumer(db)
    first = c.poll(3, 0.1)
    assert [json.loads(r.value)["data"]["text"] for r in first] == ["第0句", "第1句", "第2句"]
    c.commit(first)
    rest = c.poll(100, 0.1)  # the session event is skipped (another kind) but passed
    assert [json.loads(r.value)["data"]["text"] for r in rest] == ["第3句", "第4句", "在吗"]
    c.close()
    again = consumer(db)  # the group committed only the first three: the rest comes again
    assert [json.loads(r.value)["data"]["text"] for r in again.poll(100, 0.1)] == ["第3句", "第4句", "在吗"]
    again.commit()
    assert consumer(db).poll(100, 0.1) == []
    assert [r.kind for r in consumer(db, "other", ("message", "session")).poll(100, 0.1)].count("session") == 1


def test_purge_removes_only_what_every_group_passed(db: Database) -> None:
    with db.session() as s:
        publish(s, [line("t1:a", str(i)) for i in range(6)])
    fast, slow = consumer(db, "fast"), consumer(db, "slow")
    fast.poll(6, 0.1)
    fast.commit()
    slow.poll(2, 0.1)
    slow.commit()
    assert fast.purge(keep_seconds=0) == 2  # the slow group is at 2
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(outbox)).scalar() == 4
    slow.poll(10, 0.1)
    slow.commit()
    assert fast.purge(keep_seconds=0) == 4
    with db.session() as s:  # a seq is never reused after a purge, or a reader would skip the new row
        publish(s, [line("t1:a", "新的")])
    assert [json.loads(r.value)["data"]["text"] for r in consumer(db, "fast").poll(10, 0.1)] == ["新的"]


def test_a_reader_waits_at_a_hole_until_the_earlier_writer_commits(mariadb_url: str) -> None:
    """MySQL hands out seq at insert time: a later transaction can commit first. The reader must not step
    over the earlier row (it would never see it), and a rolled-back one holds it up only ``gap_seconds``."""
    from bot.ids import configure
    from bot.storage import migrate

    configure(8)
    db = Database(mariadb_url)
    migrate.upgrade(db.engine)
    now = [100.0]
    c = consumer(db, gap_seconds=5, clock=lambda: now[0])
    with db.session() as s:
        publish(s, [line("k", "先到的")])
    assert len(c.poll(10, 0.1)) == 1
    c.commit()
    slow = db.engine.connect()
    try:
        tx = slow.begin()
        slow.execute(outbox.insert(), [{"event_id": 1, "tenant_id": "t1", "stream_key": "k", "kind": "message",
                                        "body": line("k", "早写的").to_json(), "created_at": 0}])  # fmt: skip
        with db.session() as s:
            publish(s, [line("k", "晚写的")])
        assert c.poll(10, 0.2) == []  # the committed later row waits behind the hole
        tx.commit()
    finally:
        slow.close()
    assert [json.loads(r.value)["data"]["text"] for r in c.poll(10, 0.2)] == ["早写的", "晚写的"]
    c.commit()
    with db.engine.connect() as conn, conn.begin() as tx2:  # takes a seq, then rolls back: a hole for good
        conn.execute(outbox.insert(), [{"event_id": 2, "tenant_id": "t1", "stream_key": "k", "kind": "message",
                                        "body": "{}", "created_at": 0}])  # fmt: skip
        tx2.rollback()
    with db.session() as s:
        publish(s, [line("k", "回滚之后")])
    assert c.poll(10, 0.1) == []
    now[0] += 6
    assert [json.loads(r.value)["data"]["text"] for r in c.poll(10, 0.1)] == ["回滚之后"]
    db.dispose()


def test_writers_in_parallel_lose_nothing(db: Database) -> None:
    def write(n: int) -> None:
        for i in range(40):
            with db.session() as s:
                publish(s, [line(f"t1:c{n}", f"{n}-{i}")])

    c = consumer(db, gap_seconds=5)
    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    seen: list[str] = []
    while any(t.is_alive() for t in threads) or len(seen) < 160:
        batch = c.poll(50, 0.2)
        seen += [json.loads(r.value)["data"]["text"] for r in batch]
        c.commit()
        if not batch and not any(t.is_alive() for t in threads) and len(seen) >= 160:
            break
    assert sorted(seen) == sorted(f"{n}-{i}" for n in range(4) for i in range(40))
    for n in range(4):  # one conversation stays in order
        mine = [x for x in seen if x.startswith(f"{n}-")]
        assert mine == [f"{n}-{i}" for i in range(40)]
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM cs_outbox")).scalar() == 160
