"""What the gate knows of one tenant's KB lexically: n-gram document frequencies and unmentioned platforms.

Built from the catalog (FAQs + document sections) once per KB generation and version.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from knowledge import indexing
from knowledge.gate.anchors import other_platforms
from knowledge.text.ngrams import NgramStats, char_grams
from knowledge.text.pii import mask
from knowledge.text.query import retrieval_text  # the query side's normalisation, on the KB side


def faq_text(f: Any) -> str:
    """An FAQ's lexical text: its question and similar questions (answers drift off topic), plus the answer
    when there are hardly any phrasings to match (as in the keyword index, knowledge/indexing.py)."""
    phrasings = [t for t in (f.question, *f.similar_questions) if t]
    if indexing.is_sparse(f.question, f.similar_questions):
        phrasings.append(f.answer)
    return " ".join(retrieval_text(mask(t)) for t in phrasings)


def section_text(sec: Any) -> str:
    return retrieval_text(mask(indexing.section_text(sec.title, sec.content)))


@dataclass(frozen=True)
class Lexicon:
    stats: NgramStats
    foreign_platforms: tuple[str, ...]  # other platforms' names this tenant's KB never mentions
    # n-grams of items that reached a top-k, kept for this KB generation: masking and splitting an item's
    # text is done once, not on every question it shows up in
    _grams: dict[tuple[str, int], Counter[str]] = field(default_factory=dict, repr=False)
    _sparse: dict[int, bool] = field(default_factory=dict, repr=False)

    def sparse(self, faq: Any) -> bool:
        """The catalog FaqItem has too few phrasings for paraphrase matching (knowledge/indexing.py)."""
        cached = self._sparse.get(faq.faq_id)
        if cached is None:
            cached = self._sparse[faq.faq_id] = indexing.is_sparse(faq.question, faq.similar_questions)
        return cached

    def grams(self, kind: str, item: Any) -> Counter[str]:
        """``item`` is the catalog's FaqItem (kind "faq") or SectionItem."""
        key = (kind, item.faq_id if kind == "faq" else item.emb_id)
        cached = self._grams.get(key)
        if cached is None:
            cached = self._grams[key] = char_grams(faq_text(item) if kind == "faq" else section_text(item))
        return cached

    @classmethod
    def build(cls, faqs: Mapping[int, Any], sections: Mapping[int, Any]) -> Lexicon:
        texts = [faq_text(f) for f in faqs.values() if f.enabled] + [section_text(x) for x in sections.values()]
        everything = "\n".join(texts).lower() + "\n" + "\n".join(f.answer for f in faqs.values()).lower()
        return cls(NgramStats(texts), tuple(p for p in other_platforms() if p not in everything))
