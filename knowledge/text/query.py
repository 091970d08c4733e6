"""Query normalisation shared by retrieval (query side) and the gate's lexicon (KB side)."""

from __future__ import annotations

import re
import unicodedata

_SPACE = re.compile(r"\s+")
# long identifiers carry no meaning for retrieval and drag the embedding away from the question
_TRACKING_NO = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{1,4}\d{9,}(?![0-9])")
_ORDER_NO = re.compile(r"(?<![A-Za-z0-9])\d{10,}(?![0-9])")


def normalise_query(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text or "")).strip()[:500]


def retrieval_text(masked: str) -> str:
    return _ORDER_NO.sub("订单号", _TRACKING_NO.sub("运单号", masked))
