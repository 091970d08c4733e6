"""Pick the vector store by ``vectors.type`` (milvus_lite, milvus, or a dotted class path)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.plugins import load_class
from knowledge.vectors.base import VectorStore

BUILTIN = {
    # lite and server share one module: only the URI differs
    "milvus_lite": "knowledge.vectors.milvus.MilvusVectorStore",
    "milvus": "knowledge.vectors.milvus.MilvusVectorStore",
}


def create_vector_store(type_: str, options: Mapping[str, Any], home: Path) -> VectorStore:
    cls = load_class(type_, "vectors", BUILTIN)
    default = home / "milvus" / "kb.db" if type_ == "milvus_lite" else None
    if type_ == "milvus" and not options.get("uri"):
        options = {**options, "uri": "http://127.0.0.1:19530"}
    return cls.from_options(options, default)  # type: ignore[no-any-return]
