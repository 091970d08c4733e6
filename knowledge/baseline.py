"""``csbot kb eval --baseline``: the plain dense baseline the pipeline has to beat.

What a merchant gets by embedding a question+answer export and nothing else: every enabled FAQ of the
tenant embedded once as "question\\nanswer" (as a passage), the raw query embedded (as a query) with the
embedding model of the tenant's live index version, cosine top-k. No similar questions, no centroid, no
keywords, no query normalisation or masking, no gate (so no answered/abstained numbers). Documents are not
in it: an in-scope case that expects only ``doc:...`` ids cannot be found by it, and is counted as a miss
in ``recall@k`` like any other; ``recall@k_faq_cases`` is measured on the cases that expect an FAQ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bot.errors import CsbotError
from knowledge import repository as repo
from knowledge.embeddings.base import Embedder
from knowledge.evaluation import EvalCase
from knowledge.service import KnowledgeService
from knowledge.types import check_tenant
from knowledge.versions import info


@dataclass(frozen=True)
class DenseBaseline:
    ids: tuple[str, ...]  # FAQ ext ids, one per row of ``matrix``
    matrix: np.ndarray  # L2-normalised "question\nanswer" passage vectors
    embedder: Embedder

    @classmethod
    def build(cls, entries: Sequence[tuple[str, str, str]], embedder: Embedder) -> DenseBaseline:
        """``entries``: (id, question, answer) per FAQ."""
        if not entries:
            raise CsbotError("the baseline needs at least one enabled FAQ")
        texts = [f"{q}\n{a}" for _, q, a in entries]
        return cls(tuple(e[0] for e in entries), np.asarray(embedder.embed_passages(texts)), embedder)

    def rank_many(self, queries: Sequence[str], k: int = 5) -> list[list[str]]:
        """The top-k FAQ ids per query, best first.

        Each query is embedded alone, as the pipeline and any deployed system embed a customer's question:
        the int8 engine quantizes activations once per call, so in a batch a query's vector moved with its
        neighbours in the file (batches of 32 vs one: FAQ-case recall@1 on the dev set 0.762 vs 0.786).
        """
        out: list[list[str]] = []
        for query in queries:
            row = np.asarray(self.embedder.embed_queries([query]))[0] @ self.matrix.T
            out.append([self.ids[i] for i in np.argsort(-row, kind="stable")[:k]])
        return out


def for_tenant(svc: KnowledgeService, tenant_id: str | None = None) -> DenseBaseline:
    """The baseline over a tenant's enabled FAQs, embedded by the model of the live index version."""
    tenant_id = check_tenant(tenant_id or svc.default_tenant)
    with svc.db.session() as s:
        row = repo.version_by_status(s, "live")
        faqs, _ = repo.load_catalog(s, tenant_id)
        version = info(row) if row is not None else None
    if version is None:
        raise CsbotError("the knowledge base is empty: import FAQs first")
    entries = [(f.ext_id, f.question, f.answer) for f in sorted(faqs.values(), key=lambda f: f.faq_id)
               if f.enabled]  # fmt: skip
    return DenseBaseline.build(entries, svc.embedder_for(version))


def recall_report(cases: Sequence[EvalCase], ranks: Sequence[int | None]) -> dict[str, Any]:
    """recall@1/@5 and MRR over the in-scope cases, and recall@1/@5 over those that expect an FAQ.

    ``ranks[i]`` is the 1-based rank of the first expected source for ``cases[i]`` (None: not found).
    """
    in_scope = [(c, r) for c, r in zip(cases, ranks, strict=True) if c.expected]
    faq_cases = [(c, r) for c, r in in_scope if any(not e.startswith("doc:") for e in c.expected)]

    def share(rows: Sequence[tuple[EvalCase, int | None]], k: int) -> float:
        return round(sum(r is not None and r <= k for _, r in rows) / max(len(rows), 1), 4)

    return {
        "recall@1": share(in_scope, 1),
        "recall@5": share(in_scope, 5),
        "mrr": round(sum(1.0 / r for _, r in in_scope if r) / max(len(in_scope), 1), 4),
        "recall@1_faq_cases": share(faq_cases, 1),
        "recall@5_faq_cases": share(faq_cases, 5),
        "in_scope": len(in_scope),
        "faq_cases": len(faq_cases),
    }


def evaluate_baseline(base: DenseBaseline, cases: Sequence[EvalCase]) -> dict[str, Any]:
    ranked = base.rank_many([c.query for c in cases])
    ranks = [next((n for n, i in enumerate(r, 1) if i in c.expected), None) for c, r in zip(cases, ranked, strict=True)]
    return {"faqs": len(base.ids), **recall_report(cases, ranks)}
