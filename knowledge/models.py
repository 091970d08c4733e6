"""Knowledge tables beyond the seed's cs_faq / cs_doc / cs_doc_embedding (migration 0002).

* ``cs_kb_index_version``: one row per built index version (a vector collection + a keyword index built
  with one embedding model). Exactly one is ``live``; the one before it is ``previous`` (rollback target).
  Versions are platform-wide: tenants share a collection and are separated by the ``tenant_id`` field.
* ``cs_kb_state``: a per-tenant generation counter bumped on every KB change; answer caches key on it.
* ``cs_kb_lowconf``: questions the bot could not answer confidently (seed §2.5.9 active learning).
* ``cs_kb_proposal`` (migration 0010): similar questions an LLM proposed for an FAQ at import
  (``csbot kb import --propose-similar``). Generated text, so not live: ``pending`` until a person accepts
  it (it joins the FAQ's similar questions and the indexes) or rejects it (kept, so it is not proposed again).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base, TinyInt, tenant_col, utcnow


class KbIndexVersion(Base):
    __tablename__ = "cs_kb_index_version"
    BUILDING, READY, LIVE, PREVIOUS, RETIRED, FAILED = "building", "ready", "live", "previous", "retired", "failed"

    version_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    embed_type: Mapped[str] = mapped_column(String(128), nullable=False)
    embed_options: Mapped[Any | None] = mapped_column(JSON)
    model_id: Mapped[str] = mapped_column(String(255), nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    vector_collection: Mapped[str] = mapped_column(String(128), nullable=False)
    keyword_index: Mapped[str] = mapped_column(String(128), nullable=False)
    entries: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    note: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    activated_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (Index("idx_kb_version_status", "status"),)


class KbState(Base):
    __tablename__ = "cs_kb_state"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow, server_default=func.now())


class KbLowConfidence(Base):
    __tablename__ = "cs_kb_lowconf"

    lowconf_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    conversation_id: Mapped[str | None] = mapped_column(String(128))
    query: Mapped[str] = mapped_column(Text, nullable=False, comment="PII-masked")
    top_ref: Mapped[str | None] = mapped_column(String(160))
    confidence: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    reason: Mapped[str | None] = mapped_column(String(32))
    reviewed: Mapped[int] = mapped_column(TinyInt, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())

    __table_args__ = (Index("idx_lowconf_tenant_time", "tenant_id", "created_at"),)


class KbProposal(Base):
    __tablename__ = "cs_kb_proposal"
    PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"

    proposal_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tenant_id: Mapped[str] = tenant_col()
    faq_ext_id: Mapped[str] = mapped_column(String(128), nullable=False, comment="cs_faq.ext_id")
    text: Mapped[str] = mapped_column(String(255), nullable=False, comment="a proposed similar question, PII-masked")
    source: Mapped[str] = mapped_column(String(160), nullable=False, comment="who generated it, e.g. llm:<model>")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING, server_default=PENDING)
    reviewed_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, server_default=func.now())
    reviewed_at: Mapped[dt.datetime | None] = mapped_column()

    __table_args__ = (Index("idx_kb_proposal_faq", "tenant_id", "faq_ext_id"),)
