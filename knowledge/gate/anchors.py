"""Off-topic anchors: embedded once per model, compared with each query.

A question closer to "周末会不会下雪" than to any KB entry is not a shop question, however high its cosine
to the nearest FAQ (multilingual-e5-small puts every short Chinese question around 0.85-0.93). The shipped
list is ``offtopic_zh.txt``; a merchant adds lines with ``knowledge.offtopic_file``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from knowledge.embeddings.base import Embedder

log = logging.getLogger(__name__)
SHIPPED = Path(__file__).with_name("offtopic_zh.txt")
PLATFORMS = Path(__file__).with_name("platforms_zh.txt")


def read_lines(paths: Sequence[Path]) -> list[str]:
    lines: list[str] = []
    for path in paths:
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return list(dict.fromkeys(lines))


class OffTopicAnchors:
    def __init__(self, lines: Sequence[str], cache_dir: Path | None = None) -> None:
        self.lines = list(lines)
        self.cache_dir = cache_dir
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_files(cls, extra: Path | None, cache_dir: Path | None) -> OffTopicAnchors:
        return cls(read_lines([SHIPPED, *([extra] if extra else [])]), cache_dir)

    def vectors(self, embedder: Embedder) -> np.ndarray:
        """Anchor vectors for this model; cached in memory and under ``cache_dir`` (embedding takes ~2 s)."""
        with self._lock:
            cached = self._vectors.get(embedder.model_id)
            if cached is not None:
                return cached
            digest = hashlib.sha1("\n".join([embedder.model_id, *self.lines]).encode()).hexdigest()[:16]
            path = self.cache_dir / f"offtopic-{digest}.npy" if self.cache_dir else None
            vecs = None
            if path is not None and path.is_file():
                try:
                    vecs = np.load(path)
                except (OSError, ValueError):
                    log.warning("ignoring unreadable anchor cache %s", path)
            if vecs is None or vecs.shape != (len(self.lines), embedder.dim):
                vecs = embedder.embed_queries(self.lines) if self.lines else np.zeros((0, embedder.dim), np.float32)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(".tmp.npy")
                    np.save(tmp, vecs)
                    tmp.replace(path)
            self._vectors[embedder.model_id] = vecs
            return vecs

    def nearest(self, embedder: Embedder, query_vector: np.ndarray) -> tuple[float, str]:
        vecs = self.vectors(embedder)
        if not len(vecs):
            return -1.0, ""
        sims = vecs @ np.asarray(query_vector, dtype=np.float32)
        i = int(np.argmax(sims))
        return float(sims[i]), self.lines[i]


def other_platforms() -> tuple[str, ...]:
    """Names of other shopping platforms/apps (lower case), longest first so 88vip wins over a shorter hit."""
    return tuple(sorted({n.lower() for n in read_lines([PLATFORMS])}, key=len, reverse=True))
