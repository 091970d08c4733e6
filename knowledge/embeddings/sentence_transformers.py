"""A sentence-transformers model from a local directory (the Hub is not reachable offline).

Options: ``path`` (required), ``query_prefix`` / ``passage_prefix`` (e5/bge-style instructions),
``device`` (default cpu; the embedding worker picks cuda when torch sees a GPU), ``batch_size``.
Needs the optional extra: ``make setup-st`` (torch==2.13.0 first, then ``pip install .[st]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError
from knowledge.embeddings.base import normalise

PATH_EXPECTED = "a local directory holding a sentence-transformers model"


def _check_device(device: str) -> None:
    import torch

    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise ConfigError("embeddings.device", "a torch device such as cpu, cuda or cuda:1", device) from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError("embeddings.device", "cpu here: torch sees no GPU on this machine", device)


class SentenceTransformerEmbedder:
    def __init__(self, path: str, query_prefix: str = "", passage_prefix: str = "", device: str = "cpu",
                 batch_size: int = 32) -> None:  # fmt: skip
        if not Path(path).is_dir():
            raise ConfigError("embeddings.path", PATH_EXPECTED, path)
        if batch_size < 1:
            raise ConfigError("embeddings.batch_size", "a positive integer", batch_size)
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError("embeddings.type", "installed first: sentence_transformers needs the optional extra "
                              "(make setup-st, or pip install torch==2.13.0 then pip install .[st])",
                              "sentence_transformers") from None  # fmt: skip
        _check_device(device)
        try:
            # local_files_only: a directory missing a file must fail here, not wait on the unreachable Hub
            self._model = SentenceTransformer(path, device=device, local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError("embeddings.path", PATH_EXPECTED, f"{path}: {exc}") from None
        self.query_prefix = query_prefix
        self.passage_prefix = passage_prefix
        self.device = device
        self.batch_size = batch_size
        self.dim = int(self._model.get_embedding_dimension() or 0)
        self.model_id = f"sentence_transformers:{Path(path).resolve().name}"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> SentenceTransformerEmbedder:
        path = options.get("path")
        if not path:
            raise ConfigError("embeddings.path", PATH_EXPECTED)
        try:
            batch_size = int(options.get("batch_size", 32))
        except (TypeError, ValueError):
            raise ConfigError("embeddings.batch_size", "a positive integer", options.get("batch_size")) from None
        return cls(str(path), str(options.get("query_prefix", "")), str(options.get("passage_prefix", "")),
                   str(options.get("device") or "cpu"), batch_size)  # fmt: skip

    def _run(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._model.encode([prefix + t for t in texts], batch_size=self.batch_size, show_progress_bar=False,
                                  normalize_embeddings=True, convert_to_numpy=True)  # fmt: skip
        return normalise(vecs)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self.query_prefix)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, self.passage_prefix)
