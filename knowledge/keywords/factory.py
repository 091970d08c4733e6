"""Pick the keyword index by ``keywords.type`` (tantivy, elasticsearch, or a dotted class path)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.plugins import load_class
from knowledge.keywords.base import KeywordIndex

BUILTIN = {
    "tantivy": "knowledge.keywords.tantivy_index.TantivyKeywordIndex",
    "elasticsearch": "knowledge.keywords.elasticsearch_index.ElasticsearchKeywordIndex",
}


def create_keyword_index(type_: str, options: Mapping[str, Any], home: Path) -> KeywordIndex:
    return load_class(type_, "keywords", BUILTIN).from_options(options, home)  # type: ignore[no-any-return]
