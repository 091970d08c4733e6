"""A logistic gate over a handful of features: P(the top candidate answers the question).

Features (all from one query and its top candidate after re-ranking):

* ``dense``: the candidate's dense score (phrasing max/centroid mix, see knowledge/retrieval.py);
* ``lexical``: char 1-2 gram tf-idf cosine between the query and the candidate's text;
* ``coverage_item``: IDF share of the query's content grams found in the candidate;
* ``coverage_kb``: IDF share found anywhere in the tenant's KB (unknown words → likely off topic);
* ``offtopic_gap``: dense score minus the nearest off-topic anchor's cosine.

Two shapes of top candidate, two sets of weights: an FAQ with fewer than 3 phrasings (a plain
question+answer export) is matched through its question and answer passage, and its dense score means
less than the max over ten paraphrases of a rich FAQ (on the dev set, as the only signal, the plain gate
answered 0.68 of in-scope questions whose top was such an FAQ). ``sparse`` holds weights fitted on
questions whose top was a sparse FAQ; without it the main weights decide for every top.

Standardised inputs, L2-regularised, fitted by plain gradient descent (a few hundred rows; no sklearn in
the app runtime). ``python -m knowledge.gate.train`` refits ``weights.json`` from labelled eval files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from bot.logistic import fit_logistic

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
    sparse: GateModel | None = None  # for a top FAQ with few phrasings (see the module docstring)

    def for_top(self, sparse: bool) -> GateModel:
        """The weights that decide for a top candidate of this shape."""
        return self.sparse if sparse and self.sparse is not None else self

    def with_sparse(self, sparse: GateModel | None) -> GateModel:
        return replace(self, sparse=replace(sparse, sparse=None) if sparse is not None else None)

    def probability(self, values: Mapping[str, float]) -> float:
        z = self.bias
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.weights, strict=True):
            z += w * (values[name] - mu) / sd
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @classmethod
    def fit(cls, rows: Sequence[Mapping[str, float]], labels: Sequence[int], l2: float = 1.0,
            steps: int = 4000, lr: float = 0.1, trained_on: str = "", balanced: bool = False) -> GateModel:  # fmt: skip
        """``balanced``: both classes weigh half of the loss, whatever their share of the rows."""
        x = np.array([[r[f] for f in FEATURES] for r in rows], dtype=np.float64)
        y = np.asarray(labels, dtype=np.float64)
        if len(set(y.tolist())) < 2:
            raise ValueError("the gate needs both answerable and out-of-scope examples")
        share = float(y.mean())
        weight = np.where(y == 1, 0.5 / share, 0.5 / (1 - share)) if balanced else np.ones_like(y)
        mean, scale = x.mean(0), x.std(0) + 1e-9
        z = (x - mean) / scale
        w, b = fit_logistic(z, y, weight, l2=l2, steps=steps, lr=lr)
        return cls(FEATURES, tuple(mean.round(6)), tuple(scale.round(6)), tuple(w.round(6)), round(b, 6),
                   trained_on)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sparse"}
        if self.sparse is not None:
            out["sparse"] = self.sparse.to_dict()
        return out

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], where: str) -> GateModel:
        model = cls(tuple(raw["features"]), tuple(raw["mean"]), tuple(raw["scale"]), tuple(raw["weights"]),
                    float(raw["bias"]), str(raw.get("trained_on", "")))  # fmt: skip
        if set(model.features) - set(FEATURES):
            raise ValueError(f"{where}: unknown gate features {sorted(set(model.features) - set(FEATURES))}")
        if not len(model.features) == len(model.mean) == len(model.scale) == len(model.weights):
            raise ValueError(f"{where}: features, mean, scale and weights differ in length")
        sparse = raw.get("sparse")
        return model.with_sparse(cls.from_dict(sparse, f"{where} (sparse)") if sparse else None)

    @classmethod
    def load(cls, path: Path = SHIPPED) -> GateModel:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")), str(path))
