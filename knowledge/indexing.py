"""What each FAQ / document section contributes to the indexes, and writing that to every index version.

An FAQ contributes one vector per phrasing (its question and each similar question, max-sim at query time)
and one keyword document; a section contributes one vector and one keyword document. Keys are derived from
the masked content, so an unchanged phrasing keeps its key and is never embedded again, and a changed one
gets a new key: new keys are written first, the SQL change commits, then the old keys are deleted. A failure
before the commit removes what was written, so no item is ever half-indexed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from knowledge.embeddings.base import Embedder
from knowledge.keywords.base import KeywordDoc, KeywordIndex
from knowledge.text.pii import mask
from knowledge.text.tokenize import tokenize
from knowledge.types import Entry, VectorRecord
from knowledge.vectors.base import VectorStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionInfo:
    name: str
    vector_collection: str
    keyword_index: str
    embed_type: str
    embed_options: dict[str, object]
    model_id: str
    dim: int
    status: str


@dataclass
class Units:
    vectors: list[Entry] = field(default_factory=list)
    keywords: list[KeywordDoc] = field(default_factory=list)

    def extend(self, other: Units) -> None:
        self.vectors.extend(other.vectors)
        self.keywords.extend(other.keywords)

    @property
    def vector_pks(self) -> set[str]:
        return {e.pk for e in self.vectors}

    @property
    def keyword_pks(self) -> set[str]:
        return {d.pk for d in self.keywords}


def _h(*parts: object) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:24]


SPARSE_PHRASINGS = 3


def phrasings_of(question: str, similar: Sequence[str]) -> list[str]:
    """An FAQ's distinct masked phrasings (question first), as they are embedded."""
    return list(dict.fromkeys(mask(t) for t in (question, *similar) if t.strip()))


def is_sparse(question: str, similar: Sequence[str]) -> bool:
    """Too few phrasings to match paraphrases on: the answer is indexed too, and the gate's sparse weights
    decide for it."""
    return len(phrasings_of(question, similar)) < SPARSE_PHRASINGS


def faq_units(tenant_id: str, faq_id: int, question: str, similar: Sequence[str], answer: str,
              enabled: bool, keyword_answer: bool = False) -> Units:  # fmt: skip
    units = Units()
    if not enabled:
        return units  # disabled FAQs are in SQL only
    phrasings = phrasings_of(question, similar)
    for text in phrasings:
        units.vectors.append(Entry(f"fv{_h(tenant_id, faq_id, text)}", tenant_id, "faq", faq_id, text, "query"))
    # the centroid's inner product with a query is the mean cosine over all phrasings (not re-normalised)
    units.vectors.append(Entry(f"fc{_h(tenant_id, faq_id, *phrasings)}", tenant_id, "faq", faq_id, "", "centroid",
                               tuple(phrasings)))  # fmt: skip
    # An FAQ with hardly any phrasings has little for a question to match: its answer counts too, as a
    # passage vector (it joins the phrasings' max, not the centroid) and as keywords. A KB without similar
    # questions, recall@1: 0.67 -> 0.71 (keywords) dev, 0.55 -> 0.63 blind set 3; the vector adds more.
    sparse = len(phrasings) < SPARSE_PHRASINGS
    if sparse and answer.strip():
        text = mask(answer)
        units.vectors.append(Entry(f"fa{_h(tenant_id, faq_id, text)}", tenant_id, "faq", faq_id, text, "passage"))
    with_answer = keyword_answer or sparse
    kw_text = " ".join(phrasings) + (" " + mask(answer) if with_answer else "")
    tokens = tuple(tokenize(kw_text))
    units.keywords.append(KeywordDoc(f"fk{_h(tenant_id, faq_id, *tokens)}", tenant_id, "faq", faq_id, tokens))
    return units


def section_text(title: str, snippet: str) -> str:
    return f"{title}\n{snippet}" if title else snippet


def section_units(tenant_id: str, emb_id: int, title: str, snippet: str) -> Units:
    text = mask(section_text(title, snippet))
    return Units(
        vectors=[Entry(f"dv{emb_id}", tenant_id, "doc", emb_id, text)],
        keywords=[KeywordDoc(f"dk{emb_id}", tenant_id, "doc", emb_id, tuple(tokenize(text)))],
    )


class IndexWriter:
    """Writes units into every target version (the live one, the rollback one, one being built)."""

    def __init__(self, vectors: VectorStore, keywords: KeywordIndex,
                 embedder_for: Callable[[VersionInfo], Embedder]) -> None:  # fmt: skip
        self.vectors = vectors
        self.keywords = keywords
        self.embedder_for = embedder_for

    @staticmethod
    def vectors_for(emb: Embedder, entries: Sequence[Entry]) -> list[VectorRecord]:
        queries = sorted({t for e in entries if e.mode != "passage" for t in (e.parts or (e.text,)) if t})
        passages = [e.text for e in entries if e.mode == "passage"]
        qv = dict(zip(queries, emb.embed_queries(queries), strict=True)) if queries else {}
        pv = iter(emb.embed_passages(passages)) if passages else iter(())
        out = []
        for e in entries:
            if e.mode == "passage":
                vec = next(pv)
            elif e.mode == "centroid":
                vec = np.mean([qv[t] for t in e.parts], axis=0)
            else:
                vec = qv[e.text]
            out.append(VectorRecord(e.pk, e.tenant_id, e.kind, e.item_id, vec.tolist()))
        return out

    def embed(self, targets: Sequence[VersionInfo], entries: Sequence[Entry]) -> dict[str, list[VectorRecord]]:
        """Vectors per target version; one embedding pass per distinct model."""
        by_model: dict[str, list[VectorRecord]] = {}
        out: dict[str, list[VectorRecord]] = {}
        for v in targets:
            if v.model_id not in by_model:
                by_model[v.model_id] = self.vectors_for(self.embedder_for(v), entries) if entries else []
            out[v.name] = by_model[v.model_id]
        return out

    def add(self, targets: Sequence[VersionInfo], records: dict[str, list[VectorRecord]],
            keyword_docs: Sequence[KeywordDoc]) -> None:  # fmt: skip
        done: list[VersionInfo] = []
        try:
            for v in targets:
                if records.get(v.name):
                    self.vectors.upsert(v.vector_collection, records[v.name])
                if keyword_docs:
                    self.keywords.add(v.keyword_index, keyword_docs)
                done.append(v)
        except BaseException:
            # undo this batch everywhere it may have landed, then let the caller roll back SQL
            self.remove([*done, v], [r.pk for rs in records.values() for r in rs], [d.pk for d in keyword_docs])
            raise

    def seal(self, targets: Sequence[VersionInfo]) -> None:
        """After a batch: let the vector store index what was written (a failure only costs speed)."""
        for v in targets:
            try:
                self.vectors.flush(v.vector_collection)
            except Exception:
                log.warning("could not flush vector collection %s", v.vector_collection, exc_info=True)

    def remove(self, targets: Sequence[VersionInfo], vector_pks: Sequence[str], keyword_pks: Sequence[str],
               strict: bool = False) -> None:  # fmt: skip
        for v in targets:
            try:
                if vector_pks:
                    self.vectors.delete(v.vector_collection, sorted(set(vector_pks)))
                if keyword_pks:
                    self.keywords.delete(v.keyword_index, sorted(set(keyword_pks)))
            except Exception:
                if strict:
                    raise
                log.warning("could not remove %d/%d keys from version %s", len(vector_pks), len(keyword_pks),
                            v.name, exc_info=True)  # fmt: skip
