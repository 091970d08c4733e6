"""Handoff tables beyond the seed's cs_session / cs_message (migration 0005).

* ``cs_session_event``: every transition of a session (seed §2.4.4), with who caused it: the history
  reports and audits read.
* ``cs_offer``: a waiting session offered to one agent until they accept, decline, or it expires.
* ``cs_agent_feed``: what each agent's WebSocket delivers, in order; ``seq`` is the resume cursor, so an
  agent that reconnects gets what it missed. ``agent_id`` NULL: for the tenant's supervisors.
* ``cs_left_message``: what a customer left when nobody could take the chat, for the tickets capability.
* ``cs_handoff_line``: the working transcript of handoff sessions (what the inbox shows; migration 0007 moved it
  out of ``cs_message``, which is now the archive the event stream fills).

What people wrote (``cs_handoff_line.content``, ``cs_left_message.text``, ``cs_agent_feed.payload``) is sealed at
rest and opened on load (``bot.storage.sealed``): code reading these models sees plaintext.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base, EpochSeconds, TinyInt, tenant_col, utcnow
from bot.storage.sealed import seal_model

FeedSeq = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only an INTEGER primary key


class SessionEvent(Base):
    __tablename__ = "cs_session_event"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    session_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, comment="agent/supervisor; NULL: customer or system")
    detail: Mapped[Any | None] = mapped_column(JSON)
    at: Mapped[float] = mapped_column(EpochSeconds, nullable=False)

    __table_args__ = (Index("idx_session_event", "session_id", "at"),)


class Offer(Base):
    __tablename__ = "cs_offer"
    PENDING, ACCEPTED, DECLINED, EXPIRED, WITHDRAWN = "pending", "accepted", "declined", "expired", "withdrawn"

    offer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    session_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    agent_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    created_at: Mapped[float] = mapped_column(EpochSeconds, nullable=False)
    expires_at: Mapped[float] = mapped_column(EpochSeconds, nullable=False)

    __table_args__ = (
        Index("idx_offer_session", "session_id", "status"),
        Index("idx_offer_agent", "agent_id", "status"),
    )


class AgentFeed(Base):
    __tablename__ = "cs_agent_feed"

    seq: Mapped[int] = mapped_column(FeedSeq, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = tenant_col()
    agent_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[Any] = mapped_column(JSON, nullable=False)
    at: Mapped[float] = mapped_column(EpochSeconds, nullable=False)

    __table_args__ = (Index("idx_feed_agent", "tenant_id", "agent_id", "seq"),)


class LeftMessage(Base):
    __tablename__ = "cs_left_message"

    left_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    session_id: Mapped[int | None] = mapped_column(BigInteger)
    conversation_id: Mapped[str] = mapped_column(String(128), nullable=False)
    customer_ref: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="new",
                                        comment="new / ticketed / retrying / delivered")  # fmt: skip
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    # an undelivered agent line being sent again (handoff.redelivery, migration 0009)
    line_id: Mapped[int | None] = mapped_column(BigInteger)
    retry_at: Mapped[float | None] = mapped_column(EpochSeconds)  # double: a float32 epoch is 128 s coarse
    retry_until: Mapped[float | None] = mapped_column(EpochSeconds)

    __table_args__ = (
        Index("idx_left_tenant_status", "tenant_id", "status"),
        Index("idx_left_status", "status", "created_at"),  # the tickets' sweep of new ones (migration 0008)
    )


class HandoffLine(Base):
    """A line of a handoff session (customer or agent), as the inbox shows it; JSON body in ``content``."""

    __tablename__ = "cs_handoff_line"
    FROM_USER, FROM_AGENT, FROM_BOT = 0, 1, 2

    msg_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    session_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    sender_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    sender_role: Mapped[int | None] = mapped_column(TinyInt, comment="0=用户 1=客服 2=机器人")
    msg_type: Mapped[int | None] = mapped_column(TinyInt, comment="0=text 1=image 2=file")
    content: Mapped[str | None] = mapped_column(Text, comment="JSON body")
    at_list: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    __table_args__ = (Index("idx_session_time", "session_id", "created_at"),)


# what customers and agents wrote is sealed at rest (bot.storage.sealed): plaintext only in memory
for _sealed in (HandoffLine, LeftMessage, AgentFeed):
    seal_model(_sealed)
