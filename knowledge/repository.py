"""SQL access for the knowledge service. Every query takes and filters by ``tenant_id``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from bot.ids import new_id
from bot.storage.models import Doc, DocEmbedding, Faq, utcnow
from knowledge.models import KbIndexVersion, KbLowConfidence, KbProposal, KbState
from knowledge.text.faq_files import FaqRecord
from knowledge.types import check_tenant


@dataclass(frozen=True)
class FaqItem:
    faq_id: int
    ext_id: str
    question: str
    similar_questions: tuple[str, ...]
    answer: str
    category: str | None
    enabled: bool


@dataclass(frozen=True)
class SectionItem:
    emb_id: int
    doc_id: int
    doc_key: str  # "doc:<source stem>", the id evaluations and citations use
    title: str
    section_idx: int
    content: str


def faq_item(row: Faq) -> FaqItem:
    return FaqItem(row.faq_id, row.ext_id, row.question, tuple(row.similar_questions or ()), row.answer_text or "",
                   row.category, bool(row.enabled))  # fmt: skip


def faq_record(item: FaqItem) -> FaqRecord:
    return FaqRecord(item.ext_id, item.question, item.answer, item.similar_questions, item.category, item.enabled)


def accepted_similar(s: Session, tenant_id: str, ext_ids: Sequence[str]) -> dict[str, list[str]]:
    """Reviewed LLM proposals per FAQ (knowledge/proposals.py): they stay similar questions across re-imports."""
    out: dict[str, list[str]] = {}
    q = select(KbProposal).where(KbProposal.tenant_id == check_tenant(tenant_id),
                                 KbProposal.status == KbProposal.ACCEPTED)  # fmt: skip
    ids = list(ext_ids)
    for i in range(0, len(ids), 500):
        for p in s.scalars(q.where(KbProposal.faq_ext_id.in_(ids[i : i + 500])).order_by(KbProposal.proposal_id)):
            out.setdefault(p.faq_ext_id, []).append(p.text)
    return out


def doc_key(source: str | None) -> str:
    stem = (source or "").rsplit("/", 1)[-1]
    return "doc:" + (stem.rsplit(".", 1)[0] if "." in stem else stem)


# --- FAQ ---------------------------------------------------------------------------------------
def faqs_by_ext(s: Session, tenant_id: str, ext_ids: Iterable[str] | None = None) -> dict[str, Faq]:
    q = select(Faq).where(Faq.tenant_id == check_tenant(tenant_id))
    if ext_ids is not None:
        ids = list(ext_ids)
        if not ids:
            return {}
        rows: list[Faq] = []
        for i in range(0, len(ids), 500):
            rows.extend(s.scalars(q.where(Faq.ext_id.in_(ids[i : i + 500]))))
        return {r.ext_id: r for r in rows}
    return {r.ext_id: r for r in s.scalars(q)}


def add_hits(s: Session, tenant_id: str, counts: dict[int, int]) -> None:
    for faq_id, n in counts.items():
        s.execute(update(Faq).where(Faq.tenant_id == check_tenant(tenant_id), Faq.faq_id == faq_id)
                  .values(hit_count=Faq.hit_count + n))  # fmt: skip


# --- documents ---------------------------------------------------------------------------------
def doc_by_source(s: Session, tenant_id: str, source: str) -> Doc | None:
    return s.scalars(select(Doc).where(Doc.tenant_id == check_tenant(tenant_id), Doc.oss_url == source)).first()


def sections_of(s: Session, tenant_id: str, doc_id: int) -> list[DocEmbedding]:
    return list(s.scalars(select(DocEmbedding).where(DocEmbedding.tenant_id == check_tenant(tenant_id),
                                                     DocEmbedding.doc_id == doc_id)
                          .order_by(DocEmbedding.section_idx)))  # fmt: skip


def delete_sections(s: Session, tenant_id: str, emb_ids: Sequence[int]) -> None:
    if emb_ids:
        s.execute(delete(DocEmbedding).where(DocEmbedding.tenant_id == check_tenant(tenant_id),
                                             DocEmbedding.emb_id.in_(list(emb_ids))))  # fmt: skip


# --- catalog (what retrieval resolves hits against) ---------------------------------------------
def load_catalog(s: Session, tenant_id: str) -> tuple[dict[int, FaqItem], dict[int, SectionItem]]:
    tenant_id = check_tenant(tenant_id)
    faqs = {r.faq_id: faq_item(r) for r in s.scalars(select(Faq).where(Faq.tenant_id == tenant_id))}
    docs = {d.doc_id: d for d in s.scalars(select(Doc).where(Doc.tenant_id == tenant_id, Doc.is_active == 1))}
    sections: dict[int, SectionItem] = {}
    for e in s.scalars(select(DocEmbedding).where(DocEmbedding.tenant_id == tenant_id)):
        d = docs.get(e.doc_id)
        if d is not None:
            sections[e.emb_id] = SectionItem(e.emb_id, d.doc_id, doc_key(d.oss_url), d.title or "",
                                             e.section_idx or 0, e.content_snippet or "")  # fmt: skip
    return faqs, sections


def tenants(s: Session) -> list[str]:
    found = set(s.scalars(select(Faq.tenant_id).distinct())) | set(s.scalars(select(Doc.tenant_id).distinct()))
    return sorted(found)


# --- generation --------------------------------------------------------------------------------
def generation(s: Session, tenant_id: str) -> int:
    return int(s.scalar(select(KbState.generation).where(KbState.tenant_id == check_tenant(tenant_id))) or 0)


def bump_generation(s: Session, tenant_id: str | None = None) -> None:
    """Invalidate answer caches of one tenant (or all, on a version switch)."""
    if tenant_id is None:
        s.execute(update(KbState).values(generation=KbState.generation + 1, updated_at=utcnow()))
        return
    row = s.get(KbState, check_tenant(tenant_id))
    if row is None:
        s.add(KbState(tenant_id=tenant_id, generation=1, updated_at=utcnow()))
    else:
        row.generation += 1
        row.updated_at = utcnow()


# --- versions ----------------------------------------------------------------------------------
def versions(s: Session) -> list[KbIndexVersion]:
    return list(s.scalars(select(KbIndexVersion).order_by(KbIndexVersion.created_at, KbIndexVersion.version_id)))


def version_by_status(s: Session, status: str) -> KbIndexVersion | None:
    return s.scalars(select(KbIndexVersion).where(KbIndexVersion.status == status)
                     .order_by(KbIndexVersion.version_id.desc())).first()  # fmt: skip


def version_by_name(s: Session, name: str) -> KbIndexVersion | None:
    return s.scalars(select(KbIndexVersion).where(KbIndexVersion.name == name)).first()


def next_version_name(s: Session) -> str:
    n = s.scalar(select(func.count()).select_from(KbIndexVersion)) or 0
    while True:
        n += 1
        if version_by_name(s, f"v{n}") is None:
            return f"v{n}"


# --- low confidence + audit --------------------------------------------------------------------
def record_low_confidence(s: Session, tenant_id: str, query: str, confidence: float, top_ref: str | None,
                          conversation_id: str | None, reason: str) -> None:  # fmt: skip
    s.add(KbLowConfidence(lowconf_id=new_id(), tenant_id=check_tenant(tenant_id), query=query[:2000],
                          confidence=float(confidence), top_ref=top_ref, reason=reason,
                          conversation_id=conversation_id[:128] if conversation_id else None))  # fmt: skip


def low_confidence(s: Session, tenant_id: str, since: dt.datetime | None = None,
                   include_reviewed: bool = False) -> list[KbLowConfidence]:  # fmt: skip
    q = select(KbLowConfidence).where(KbLowConfidence.tenant_id == check_tenant(tenant_id))
    if since is not None:
        q = q.where(KbLowConfidence.created_at >= since)
    if not include_reviewed:
        q = q.where(KbLowConfidence.reviewed == 0)
    return list(s.scalars(q.order_by(KbLowConfidence.created_at)))
