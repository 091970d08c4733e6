"""Migrations on the embedded default (SQLite) and on the machine's real MariaDB."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, select, text

from bot.ids import Snowflake
from bot.storage import migrate
from bot.storage.db import Database
from bot.storage.models import Message, Session

TABLES = {
    "cs_user", "cs_session", "cs_message", "cs_faq", "cs_doc", "cs_doc_embedding", "cs_ticket",
    "cs_ticket_comment", "cs_audit_log", "cs_outbox", "cs_stream_offset", "cs_dead_letter", "cs_handoff_line",
}  # fmt: skip


def roundtrip(db: Database) -> None:
    ids = Snowflake(5)
    sid = ids.next_id()
    with db.session() as s:
        s.add(Session(session_id=sid, tenant_id="t1", customer_id=42, channel="rest"))
        for i in range(3):
            s.add(Message(msg_id=ids.next_id(), session_id=sid, tenant_id="t1", conversation_id="t1:u42", sender_id=42,
                          sender_role=0, msg_type=0, key_id="h1", content=f"消息{i}".encode(), at_list=["@小满"],
                          created_at=dt.datetime(2026, 12, 1, 8, 0, 0, 123456 + i)))  # fmt: skip
    with db.session() as s:
        rows = s.scalars(select(Message).where(Message.session_id == sid).order_by(Message.msg_id)).all()
        assert [r.content.decode() for r in rows] == ["消息0", "消息1", "消息2"]
        assert rows[2].created_at.microsecond == 123458
        assert rows[0].at_list == ["@小满"]
        assert isinstance(rows[0].created_at, dt.datetime)
    # a failed unit of work leaves nothing behind
    with pytest.raises(RuntimeError), db.session() as s:
        s.add(Session(session_id=ids.next_id(), tenant_id="t1", customer_id=43))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:
        assert s.scalar(select(Session).where(Session.customer_id == 43)) is None


def test_sqlite_upgrade_roundtrip_downgrade(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'cs.db'}")
    migrate.upgrade(db.engine)
    assert migrate.current_revision(db.engine) == migrate.head_revision()
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    migrate.upgrade(db.engine)  # idempotent
    roundtrip(db)
    migrate.downgrade(db.engine, "base")
    assert not TABLES & set(inspect(db.engine).get_table_names())


@pytest.mark.mariadb
def test_mariadb_upgrade_partitions_fulltext_downgrade(mariadb_url: str) -> None:
    db = Database(mariadb_url)
    migrate.upgrade(db.engine)
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    with db.engine.connect() as conn:
        parts = conn.execute(text(
            "SELECT COUNT(*) FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'cs_message' AND PARTITION_METHOD = 'HASH'"
        )).scalar()  # fmt: skip
        assert parts == 16
        pk = conn.execute(text(
            "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'cs_message' AND CONSTRAINT_NAME = 'PRIMARY'"
        )).scalar()  # fmt: skip
        assert pk == "msg_id,session_id"
        ft = conn.execute(text("SHOW INDEX FROM cs_faq WHERE Key_name = 'ft_question'")).fetchall()
        assert ft and ft[0][10] == "FULLTEXT"
        # microsecond timestamps (plain DATETIME would drop them and break message ordering)
        col = conn.execute(text(
            "SELECT DATETIME_PRECISION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'cs_message' AND COLUMN_NAME = 'created_at'"
        )).scalar()  # fmt: skip
        assert col == 6
    roundtrip(db)
    migrate.downgrade(db.engine, "base")
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.dispose()
