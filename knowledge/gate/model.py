"""A logistic gate over a handful of features: P(the top candidate answers the question).

Features (all from one query and its top candidate after re-ranking):

* ``dense``: the candidate's dense score (phrasing max/centroid mix, see knowledge/retrieval.py);
* ``lexical``: char 1-2 gram tf-idf cosine between the query and the candidate's text;
* ``coverage_item``: IDF share of the query's content grams found in the candidate;
* ``coverage_kb``: IDF share found anywhere in the tenant's KB (unknown words → likely off topic);
* ``offtopic_gap``: dense score minus the nearest off-topic anchor's cosine.

Standardised inputs, L2-regularised, fitted by plain gradient descent (a few hundred rows; no sklearn in
the app runtime). ``python -m knowledge.gate.train`` refits ``weights.json`` from labelled eval files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FEATURES = ("dense", "lexical", "coverage_item", "coverage_kb", "offtopic_gap")
SHIPPED = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class GateModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    trained_on: str = ""

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.bias
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.weights, strict=True):
            z += w * (values[name] - mu) / sd
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, float]], labels: Sequence[int], l2: float = 1.0,
            steps: int = 4000, lr: float = 0.1, trained_on: str = "") -> GateModel:  # fmt: skip
        x = np.array([[r[f] for f in FEATURES] for r in rows], dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if len(set(y.tolist())) < 2:
            raise ValueError("the gate needs both answerable and out-of-scope examples")
        mean, scale = x.mean(0), x.std(0) + 1e-9
        z = (x - mean) / scale
        w, b = np.zeros(z.shape[1]), 0.0
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
            g = p - y
            w -= lr * (z.T @ g / len(y) + l2 * w / len(y))
            b -= lr * float(g.mean())
        return cls(FEATURES, tuple(mean.round(6)), tuple(scale.round(6)), tuple(w.round(6)), round(b, 6),
                   trained_on)  # fmt: skip

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path = SHIPPED) -> GateModel:
        raw = json.loads(path.read_text(encoding="utf-8"))
        model = cls(tuple(raw["features"]), tuple(raw["mean"]), tuple(raw["scale"]), tuple(raw["weights"]),
                    float(raw["bias"]), str(raw.get("trained_on", "")))  # fmt: skip
        if set(model.features) - set(FEATURES):
            raise ValueError(f"{path}: unknown gate features {sorted(set(model.features) - set(FEATURES))}")
        return model
