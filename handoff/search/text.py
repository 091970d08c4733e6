"""Words in and out of the message index, shared by every backend so they find and highlight the same lines.

Both sides segment with rjieba (``knowledge.text.tokenize``); backends only need a whitespace analyzer. A
query word matches a line holding that word or, when segmentation differs in context, all its sub-words
(``退款申请`` also matches a line segmented as ``退款 申请``). Nothing here parses query syntax: quotes,
``*``, ``:``, ``AND`` or backslashes are text, so they can never widen a search or reach another field.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from knowledge.text.tokenize import _tokenizer, tokenize

MAX_INDEXED_CHARS = 10_000  # a pasted log is still indexed by its opening
MAX_STORED_CHARS = 2_000  # what a snippet may show
MAX_QUERY_WORDS = 12
SNIPPET_CHARS = 80


@dataclass(frozen=True)
class Word:
    """One query word: the line must hold ``token`` or every one of ``parts``."""

    token: str
    parts: tuple[str, ...] = ()


def index_text(text: str) -> str:
    """The masked text as whitespace-separated tokens (stop words kept: a search for 什么 still finds lines)."""
    return " ".join(tokenize(text[:MAX_INDEXED_CHARS], stopwords=False))


def query_words(words: str) -> list[Word]:
    """The words a search needs. Stop words are dropped unless nothing else is left (a search for 在吗)."""
    tokens = tokenize(words[:500]) or tokenize(words[:500], stopwords=False)
    out: list[Word] = []
    seen: set[str] = set()
    for tok in tokens:
        if tok in seen:
            continue
        seen.add(tok)
        parts = tuple(p for p in tokenize(tok, stopwords=False) if p != tok) if len(tok) > 2 else ()
        out.append(Word(tok, parts))
    # search mode yields a long word and its pieces; a piece already covered by its word adds nothing
    covered = {p for w in out for p in w.parts}
    return [w for w in out if w.token not in covered or not any(w.token in x.parts for x in out)][:MAX_QUERY_WORDS]


def terms(words: list[Word]) -> list[str]:
    return list(dict.fromkeys([w.token for w in words] + [p for w in words for p in w.parts]))


def snippet(text: str, words: list[Word], width: int = SNIPPET_CHARS) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of ``text`` around the first match and the [start, end) spans of the matched words in it."""
    folded = unicodedata.normalize("NFKC", text).lower()
    if len(folded) != len(text):  # a rare compatibility character changed lengths: offsets would be wrong
        folded = text.lower()
    found = sorted({(m.start(), m.end()) for t in sorted(terms(words), key=len, reverse=True)
                    for m in re.finditer(re.escape(t), folded)})  # fmt: skip
    spans: list[tuple[int, int]] = []
    for start, end in found:  # merge overlapping matches (退款申请 and 退款)
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
        else:
            spans.append((start, end))
    begin = max(0, spans[0][0] - width // 4) if spans else 0
    end = min(len(text), begin + width)
    window = text[begin:end]
    marks = tuple((max(s, begin) - begin, min(e, end) - begin) for s, e in spans if s < end and e > begin)
    prefix = "…" if begin > 0 else ""
    suffix = "…" if end < len(text) else ""
    return prefix + window + suffix, tuple((s + len(prefix), e + len(prefix)) for s, e in marks)


def warm() -> None:
    """Load the segmenter's dictionary now (about a second) rather than in the first search."""
    _tokenizer()
