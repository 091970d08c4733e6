"""A sentence-transformers model from a local directory (the Hub is not reachable offline).

Options: ``path`` (required), ``query_prefix`` / ``passage_prefix`` (e5/bge-style instructions),
``device`` (default cpu), ``batch_size``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError
from knowledge.embeddings.base import normalise


class SentenceTransformerEmbedder:
    def __init__(self, path: str, query_prefix: str = "", passage_prefix: str = "", device: str = "cpu",
                 batch_size: int = 32) -> None:  # fmt: skip
        if not Path(path).is_dir():
            raise ConfigError("embeddings.path", "a local directory holding a sentence-transformers model", path)
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(path, device=device)
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.batch_size = batch_size
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)
        self.model_id = f"sentence_transformers:{Path(path).resolve().name}"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SentenceTransformerEmbedder:
        path = options.get("path")
        if not path:
            raise ConfigError("embeddings.path", "a local directory holding a sentence-transformers model")
        return cls(str(path), str(options.get("query_prefix", "")), str(options.get("passage_prefix", "")),
                   str(options.get("device", "cpu")), int(options.get("batch_size", 32)))  # fmt: skip

    def _run(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode([prefix + t for t in texts], batch_size=self.batch_size,
                                  normalize_embeddings=True, convert_to_numpy=True)  # fmt: skip
        return normalise(vecs)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self.passage_prefix)
