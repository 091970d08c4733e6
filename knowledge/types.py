"""Plain values passed between the knowledge modules. Backends see these, never ORM rows or settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bot.errors import InvalidInput
from bot.tenants import TENANT_RE, check_tenant

__all__ = ["TENANT_RE", "check_tenant"]  # re-exported: the knowledge modules import them from here

Kind = Literal["faq", "doc"]


@dataclass(frozen=True)
class Entry:
    """One indexed unit: an FAQ question/similar question, or a document section.

    ``pk`` is derived from the content, so an unchanged entry keeps its key across re-imports and only
    changed entries are embedded again. ``item_id`` is the FAQ id or the section (emb) id it stands for.
    """

    pk: str
    tenant_id: str
    kind: Kind
    item_id: int
    text: str
    #: "query" embeds with the query instruction (FAQ phrasings are questions: symmetric matching),
    #: "passage" with the passage one (document sections), "centroid" is the mean of ``parts``' query vectors.
    mode: Literal["query", "passage", "centroid"] = "passage"
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class VectorRecord:
    pk: str
    tenant_id: str
    kind: Kind
    item_id: int
    vector: list[float]


@dataclass(frozen=True)
class SearchRequest:
    query: str
    tenant_id: str
    top_k: int = 10

    def __post_init__(self) -> None:
        check_tenant(self.tenant_id)
        if not 1 <= self.top_k <= 1000:
            raise InvalidInput("top_k must be 1..1000")


@dataclass(frozen=True)
class Hit:
    """A backend hit: ``score`` is cosine for vectors, BM25 for keywords."""

    pk: str
    kind: Kind
    item_id: int
    score: float


@dataclass(frozen=True)
class Candidate:
    """One retrievable item after fusion (an FAQ or a document section)."""

    kind: Kind
    item_id: int
    score: float
    dense: float = 0.0
    keyword: float = 0.0


@dataclass(frozen=True)
class Citation:
    id: str
    title: str
    snippet: str
    kind: Kind = "faq"
    score: float = 0.0


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]
    confidence: float
    abstained: bool
    source: str  # faq | doc | llm | cache:<source> | none
    degraded: tuple[str, ...] = ()
    kb_version: str = ""
    latency_ms: float = 0.0
    cached: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    #: when abstaining but close: FAQ questions to offer ("您是不是想问")
    suggestions: list[str] = field(default_factory=list)
    #: answered with confidence >= knowledge.sure_threshold (may overrule an NLU routing elsewhere)
    sure: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "citations": [c.__dict__ for c in self.citations],
            "confidence": round(self.confidence, 4),
            "abstained": self.abstained,
            "source": self.source,
            "degraded": list(self.degraded),
            "kb_version": self.kb_version,
            "suggestions": list(self.suggestions),
            "sure": self.sure,
        }
