"""Handoff lines, left messages, agents' feeds and tickets sealed at rest through the ORM (bot.storage.sealed),
on SQLite and on the machine's MariaDB: the database holds enc:v1 text, every reader of the models plaintext."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from bot.crypto import Cipher
from bot.ids import Snowflake
from bot.storage import migrate
from bot.storage.db import Database
from bot.storage.models import Ticket, TicketComment
from handoff.models import AgentFeed, HandoffLine, LeftMessage

PHONE = "13812345678"
ids = Snowflake(9)


@pytest.fixture(params=["sqlite", "mariadb"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cs.db'}"
    return request.getfixturevalue("mariadb_url")


@pytest.fixture
def cipher() -> Cipher:
    return Cipher("k1", {"k1": os.urandom(32)})


@pytest.fixture
def db(url: str, cipher: Cipher) -> Iterator[Database]:
    database = Database(url, cipher=cipher)
    migrate.upgrade(database.engine)
    yield database
    database.dispose()


def raw(db: Database, sql: str, **params: object) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def write_all(db: Database, tenant: str = "t1") -> dict[str, int]:
    made = {"line": ids.next_id(), "left": ids.next_id(), "ticket": ids.next_id(), "comment": ids.next_id(),
            "session": ids.next_id()}  # fmt: skip
    with db.session() as s:
        line = HandoffLine(msg_id=made["line"], session_id=made["session"], tenant_id=tenant, sender_id=1,
                           sender_role=0, msg_type=0, content=f'{{"text": "电话{PHONE}"}}')  # fmt: skip
        s.add(line)
        s.add(LeftMessage(left_id=made["left"], tenant_id=tenant, conversation_id="c1", text=f"回电 {PHONE}"))
        s.add(AgentFeed(tenant_id=tenant, agent_id=7, kind="message", session_id=made["session"],
                        payload={"message": {"text": f"我的手机{PHONE}"}}, at=1.0))  # fmt: skip
        s.add(Ticket(ticket_id=made["ticket"], tenant_id=tenant, title="退款", description=f"客户留电话{PHONE}"))
        s.add(TicketComment(comment_id=made["comment"], tenant_id=tenant, ticket_id=made["ticket"],
                            content=f"已回电{PHONE}"))  # fmt: skip
        s.flush()
        assert PHONE in line.content  # the writer's own object holds plaintext, before and after the flush
    return made


def stored(db: Database) -> dict[str, str]:
    return {
        "line": raw(db, "SELECT content FROM cs_handoff_line")[0][0],
        "left": raw(db, "SELECT text FROM cs_left_message")[0][0],
        "feed": str(raw(db, "SELECT payload FROM cs_agent_feed")[0][0]),
        "ticket": raw(db, "SELECT description FROM cs_ticket")[0][0],
        "comment": raw(db, "SELECT content FROM cs_ticket_comment")[0][0],
    }


def test_written_sealed_and_read_plain(db: Database) -> None:
    made = write_all(db)
    for name, value in stored(db).items():
        assert PHONE not in value and "enc:v1:k1:" in value, name
    with db.session() as s:
        assert PHONE in s.get(HandoffLine, (made["line"], made["session"])).content
        assert s.get(LeftMessage, made["left"]).text == f"回电 {PHONE}"
        assert s.scalars(select(AgentFeed)).one().payload == {"message": {"text": f"我的手机{PHONE}"}}
        assert s.get(Ticket, made["ticket"]).description == f"客户留电话{PHONE}"
        assert s.get(TicketComment, made["comment"]).content == f"已回电{PHONE}"


def test_an_update_reseals_the_changed_column_only(db: Database) -> None:
    made = write_all(db)
    before = stored(db)
    with db.session() as s:
        t = s.get(Ticket, made["ticket"])
        t.status = Ticket.IN_PROGRESS  # the description is not touched: its stored value stays byte for byte
        s.get(LeftMessage, made["left"]).text = "改成了新内容"
    after = stored(db)
    assert after["ticket"] == before["ticket"]
    assert after["left"] != before["left"] and after["left"].startswith("enc:v1:k1:")
    with db.session() as s:
        assert s.get(LeftMessage, made["left"]).text == "改成了新内容"
        assert s.get(Ticket, made["ticket"]).status == Ticket.IN_PROGRESS


def test_rows_from_before_sealing_read_as_they_are(db: Database) -> None:
    lid = ids.next_id()
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO cs_left_message (left_id, tenant_id, conversation_id, text, status) "
                          "VALUES (:i, 't1', 'c1', '旧的留言', 'new')"), {"i": lid})  # fmt: skip
    with db.session() as s:
        assert s.get(LeftMessage, lid).text == "旧的留言"


def test_a_sealed_value_moved_to_another_row_does_not_open(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    one, two = write_all(db, "t1"), write_all(db, "t2")
    with db.engine.begin() as conn:  # someone with database access copies t1's ticket text into t2's ticket
        sealed = conn.execute(select(Ticket.description).where(Ticket.ticket_id == one["ticket"])).scalar()
        conn.execute(update(Ticket).where(Ticket.ticket_id == two["ticket"]).values(description=sealed))
    with caplog.at_level(logging.WARNING, "bot.storage.sealed"), db.session() as s:
        assert s.get(Ticket, two["ticket"]).description == ""  # unreadable, not another tenant's text
        assert s.get(Ticket, one["ticket"]).description == f"客户留电话{PHONE}"
    assert "cs_ticket.description of a row does not open" in caplog.text and PHONE not in caplog.text


def test_without_the_key_a_reader_gets_a_placeholder_not_an_error(db: Database, url: str) -> None:
    made = write_all(db)
    other = Database(url, cipher=Cipher("k2", {"k2": os.urandom(32)}))
    try:
        with other.session() as s:
            assert s.get(LeftMessage, made["left"]).text == "(内容无法解密)"
            assert s.get(HandoffLine, (made["line"], made["session"])).content == \
                '{"text": "", "error": "sealed body does not open"}'  # fmt: skip
            assert s.scalars(select(AgentFeed)).one().payload == {"error": "sealed payload does not open"}
    finally:
        other.dispose()


def test_the_tenant_default_is_part_of_what_the_value_is_bound_to(db: Database) -> None:
    lid = ids.next_id()
    with db.session() as s:
        s.add(LeftMessage(left_id=lid, conversation_id="c1", text="没写租户"))  # tenant_id from its default
    with db.session() as s:
        left = s.get(LeftMessage, lid)
        assert (left.tenant_id, left.text) == ("default", "没写租户")
