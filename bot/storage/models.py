"""SQLAlchemy models for the seed's tables (§5) plus the audit log.

Every table carries ``tenant_id`` (seed §2.5.8 logical isolation); every query filters on it. The one exception
is ``cs_worker_lease``: infrastructure shared by the whole home, not tenant data.
Primary keys are Snowflake ids assigned by the application, never auto-increment, so rows can be
written idempotently from the event stream. On MySQL/MariaDB ``cs_message`` is hash-partitioned on
``session_id`` (16 partitions; the partition column is part of the primary key, as MySQL requires).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Millisecond-ordered events need sub-second timestamps on MySQL too (plain DATETIME drops them).
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
TinyInt = SmallInteger().with_variant(mysql.TINYINT(), "mysql", "mariadb")
LongText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
Blob = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")
# Epoch seconds as a float: MySQL's FLOAT is single precision (about two minutes of resolution today).
EpochSeconds = Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: Timestamp}  # noqa: RUF012


def tenant_col() -> Mapped[str]:
    return mapped_column(String(64), nullable=False, default="default", server_default="default")


class User(Base):
    __tablename__ = "cs_user"
    CUSTOMER, AGENT, ADMIN = 0, 1, 2

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    nick_name: Mapped[str] = mapped_column(String(64), nullable=False)
    avatar_url: Mapped[str | None] = mapped_column(String(255))
    phone_mask: Mapped[str | None] = mapped_column(String(32))
    user_type: Mapped[int] = mapped_column(TinyInt, nullable=False, comment="0=消费者 1=客服 2=管理员")
    status: Mapped[int] = mapped_column(TinyInt, default=1, server_default="1", comment="1=正常 0=禁用")
    # Channel identity of a customer (Rasa sender id) or login name of an agent.
    external_id: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    roles: Mapped[str | None] = mapped_column(String(255), comment="comma-separated: agent,kb_admin,admin")
    skills: Mapped[str | None] = mapped_column(String(255), comment="comma-separated skill groups")
    capacity: Mapped[int] = mapped_column(SmallInteger, default=5, server_default="5", comment="max concurrent chats")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())

    __table_args__ = (
        Index("idx_type_status", "user_type", "status"),
        UniqueConstraint("tenant_id", "external_id", name="uq_user_external"),
    )


class Session(Base):
    """One customer conversation window with the bot and/or agents."""

    __tablename__ = "cs_session"
    QUEUED, ACTIVE, CLOSED, WARNING, BOT = 0, 1, 2, 3, 4

    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    customer_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    agent_id: Mapped[int | None] = mapped_column(BigInteger)
    session_state: Mapped[int] = mapped_column(
        TinyInt, default=0, server_default="0", comment="0=排队 1=进行中 2=已结束 3=提醒 4=机器人"
    )
    channel: Mapped[str | None] = mapped_column(String(32))
    conversation_id: Mapped[str | None] = mapped_column(String(128), comment="Rasa sender id")
    skill_group: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(TinyInt, default=3, server_default="3")
    summary: Mapped[str | None] = mapped_column(Text)
    last_msg_time: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    # the handoff (migration 0005): why, who, the queue order, the timings reports need
    customer_ref: Mapped[str | None] = mapped_column(String(128), comment="the shop's customer id (or visitor)")
    customer_name: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(32), comment="complaint / after_sales / other")
    tags: Mapped[str | None] = mapped_column(String(255), comment="comma-separated customer tags (vip)")
    queue_rank: Mapped[float | None] = mapped_column(EpochSeconds, comment="lower is served first (handoff.policy)")
    queued_at: Mapped[float | None] = mapped_column(EpochSeconds)
    assigned_at: Mapped[float | None] = mapped_column(EpochSeconds)
    first_response_at: Mapped[float | None] = mapped_column(EpochSeconds)
    last_customer_at: Mapped[float | None] = mapped_column(EpochSeconds)
    warned_at: Mapped[float | None] = mapped_column(EpochSeconds)
    target_agent_id: Mapped[int | None] = mapped_column(BigInteger, comment="a transfer to one agent")
    transfer_note: Mapped[str | None] = mapped_column(String(500))
    csat: Mapped[int | None] = mapped_column(TinyInt, comment="1-5")
    # the shop's push hook (migration 0006): an agent line the customer has not seen within N seconds
    last_agent_at: Mapped[float | None] = mapped_column(EpochSeconds)
    customer_seen_at: Mapped[float | None] = mapped_column(EpochSeconds, comment="the chat was on their screen")
    notified_at: Mapped[float | None] = mapped_column(EpochSeconds)
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0", comment="optimistic lock")

    __table_args__ = (
        Index("idx_customer_state", "customer_id", "session_state"),
        Index("idx_tenant_state", "tenant_id", "session_state"),
        Index("idx_conversation", "tenant_id", "conversation_id"),
        Index("idx_queue", "tenant_id", "session_state", "skill_group", "queue_rank"),
        Index("idx_unseen", "tenant_id", "session_state", "last_agent_at"),
        Index("idx_agent_state", "agent_id", "session_state"),
    )


class Message(Base):
    """The archive: every line of every conversation (customer, agent, bot), written only by the archiver from
    the event stream (``handoff.archive``), idempotently by ``msg_id``. ``session_id`` is the conversation's
    number (``bot.events.keys.conversation_number``), so one conversation's lines share a partition on MySQL.
    ``content`` is the JSON body sealed with AES-256-GCM under ``key_id`` (``bot.crypto``)."""

    __tablename__ = "cs_message"
    FROM_USER, FROM_AGENT, FROM_BOT = 0, 1, 2

    msg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    conversation_id: Mapped[str] = mapped_column(String(128), nullable=False)
    channel: Mapped[str | None] = mapped_column(String(32))
    customer_ref: Mapped[str | None] = mapped_column(String(128))
    sender_id: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    sender_role: Mapped[int | None] = mapped_column(TinyInt, comment="0=用户 1=客服 2=机器人")
    msg_type: Mapped[int | None] = mapped_column(TinyInt, comment="0=text 1=image 2=file")
    key_id: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[bytes] = mapped_column(Blob, nullable=False, comment="AES-256-GCM sealed JSON body")
    at_list: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(nullable=False)

    __table_args__ = (
        Index("idx_msg_conversation", "tenant_id", "conversation_id", "created_at"),
        Index("idx_msg_tenant_time", "tenant_id", "created_at"),
        {"mysql_partition_by": "HASH(session_id)", "mysql_partitions": "16"},
    )


class StreamOffset(Base):
    """How far one reader group has read one outbox source (``bot.events.stream.sql``)."""

    __tablename__ = "cs_stream_offset"

    group_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[float] = mapped_column(EpochSeconds, nullable=False)


class DeadLetter(Base):
    """A record a reader could not use (malformed, foreign), parked with the reason; the reader went on."""

    __tablename__ = "cs_dead_letter"

    dl_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    group_name: Mapped[str] = mapped_column(String(64), nullable=False)
    source: Mapped[str] = mapped_column(String(128), nullable=False)
    position: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(255), nullable=False)
    body: Mapped[str] = mapped_column(LongText, nullable=False, comment="the record as it came, cut at 64 KB")
    created_at: Mapped[float] = mapped_column(EpochSeconds, nullable=False)

    __table_args__ = (Index("idx_dead_letter_time", "group_name", "created_at"),)


class Faq(Base):
    __tablename__ = "cs_faq"

    faq_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    ext_id: Mapped[str] = mapped_column(String(128), nullable=False, comment="the importer's stable id")
    question: Mapped[str] = mapped_column(String(255), nullable=False)
    similar_questions: Mapped[Any | None] = mapped_column(JSON)
    answer_text: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    hit_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    enabled: Mapped[int] = mapped_column(TinyInt, default=1, server_default="1")
    content_hash: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())

    __table_args__ = (
        UniqueConstraint("tenant_id", "ext_id", name="uq_faq_ext"),
        Index("idx_faq_tenant_category", "tenant_id", "category"),
        # Seed §5.3; on MySQL/MariaDB only (other dialects get no index: keyword search is tantivy/ES).
        Index("ft_question", "question", mysql_prefix="FULLTEXT").ddl_if(dialect=("mysql", "mariadb")),
    )


class Doc(Base):
    __tablename__ = "cs_doc"

    doc_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    title: Mapped[str | None] = mapped_column(String(255))
    oss_url: Mapped[str | None] = mapped_column(String(512))
    file_type: Mapped[str | None] = mapped_column(String(32))
    version_no: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    is_active: Mapped[int] = mapped_column(TinyInt, default=1, server_default="1")
    content_hash: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())

    __table_args__ = (
        Index("idx_title", "title"),
        Index("idx_doc_tenant_source", "tenant_id", "oss_url"),
    )


class DocEmbedding(Base):
    """Section metadata; the vector itself lives in the vector store (``vector`` stays NULL by default)."""

    __tablename__ = "cs_doc_embedding"

    emb_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    doc_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    section_idx: Mapped[int | None] = mapped_column(Integer)
    content_snippet: Mapped[str | None] = mapped_column(LongText)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    vector: Mapped[bytes | None] = mapped_column(Blob)

    __table_args__ = (Index("idx_doc_section", "doc_id", "section_idx"),)


class Ticket(Base):
    __tablename__ = "cs_ticket"
    NEW, IN_PROGRESS, WAITING_CUSTOMER, RESOLVED, CLOSED = 0, 1, 2, 3, 4

    ticket_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    category: Mapped[str | None] = mapped_column(String(64), comment="refund/logistics/complaint/tech")
    title: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(TinyInt, default=3, server_default="3", comment="1=紧急 2=高 3=中 4=低")
    status: Mapped[int] = mapped_column(
        TinyInt, default=0, server_default="0", comment="0=新建 1=处理中 2=待客户 3=已解决 4=关闭"
    )
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    sla_minutes: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    expired_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())
    # the ticket service (migration 0008, handoff.tickets)
    ticket_no: Mapped[str | None] = mapped_column(String(20), comment="what the customer is told, e.g. T2601010007")
    conversation_id: Mapped[str | None] = mapped_column(String(128), comment="Rasa sender id")
    customer_ref: Mapped[str | None] = mapped_column(String(128), comment="the shop's customer id (or visitor)")
    channel: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(
        String(32), comment="agent / left_message / queue_timeout / complaint / undelivered")
    source_key: Mapped[str | None] = mapped_column(String(64), comment="one ticket per source event")
    created_by: Mapped[int | None] = mapped_column(BigInteger, comment="the agent; NULL: created automatically")
    resolved_at: Mapped[dt.datetime | None] = mapped_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    sla_paused_at: Mapped[dt.datetime | None] = mapped_column(comment="waiting for the customer: the SLA clock stands")
    escalation_level: Mapped[int] = mapped_column(TinyInt, nullable=False, default=0, server_default="0")
    escalated_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (
        Index("idx_status_priority", "status", "priority"),
        Index("idx_customer", "customer_id"),
        Index("idx_ticket_tenant_status", "tenant_id", "status"),
        Index("idx_ticket_due", "status", "expired_at"),
        Index("idx_ticket_conversation", "tenant_id", "conversation_id"),
        Index("idx_ticket_session", "session_id"),
        UniqueConstraint("tenant_id", "ticket_no", name="uq_ticket_no"),
        UniqueConstraint("tenant_id", "source_key", name="uq_ticket_source"),
    )


class TicketComment(Base):
    __tablename__ = "cs_ticket_comment"

    comment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    ticket_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    commenter_id: Mapped[int | None] = mapped_column(BigInteger)
    author_role: Mapped[str | None] = mapped_column(String(16), comment="agent / supervisor / customer / system")
    content: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    __table_args__ = (Index("idx_ticket_time", "ticket_id", "created_at"),)


class AuditLog(Base):
    """Who changed what (seed §2.5.8: KB admin operations are audited; also tickets, agents, config)."""

    __tablename__ = "cs_audit_log"

    audit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_role: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    __table_args__ = (
        Index("idx_audit_tenant_time", "tenant_id", "created_at"),
        Index("idx_audit_target", "target_type", "target_id"),
    )


class WorkerLease(Base):
    """One process's claim on a Snowflake worker id (bot/worker_lease.py), renewed until it exits.

    Infrastructure, not tenant data, so no ``tenant_id``: a worker id must be unique across every process that
    writes to this database, whatever tenants they serve.
    """

    __tablename__ = "cs_worker_lease"

    worker_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(128), nullable=False, comment="host:pid:random")
    # Epoch seconds from the leasing process's clock, the same clock its ids' timestamps come from.
    expires_at: Mapped[float] = mapped_column(EpochSeconds, nullable=False)
    updated_at: Mapped[float] = mapped_column(EpochSeconds, nullable=False, comment="last claim or renewal")


class TokenRevocation(Base):
    """A staff token revoked before its expiry (log-out, refresh): refused by every service until then."""

    __tablename__ = "cs_token_revocation"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = tenant_col()
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(EpochSeconds, nullable=False, comment="the token's own exp")

    __table_args__ = (Index("idx_revocation_expiry", "expires_at"),)


# ticket text is sealed at rest; imported last because the sealing module may not import the models
from bot.storage.sealed import seal_model  # noqa: E402

for _sealed in (Ticket, TicketComment):
    seal_model(_sealed)
