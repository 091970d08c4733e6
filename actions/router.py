"""Whether a message goes to the knowledge base: a decision learned from labelled messages, not word lists.

The NLU names the task; what it cannot say well is whether a message about returns asks for the rule
(退货运费谁出) or for the return itself (我要退货), or whether a described problem wants the policy or the order.
The router decides that from what the assistant already knows about the message:

* the NLU's whole intent ranking (not only the top intent),
* whether an order number was found,
* the knowledge base's own confidence, its "sure" flag and whether it abstained,
* the message's characters (1- and 2-grams, digit runs folded), whose weights are learned, not written.

One logistic decision over those, fitted on ``data/routing/routing_train.jsonl`` (lines labelled with where a
good agent would send them) by ``python -m bench.routing_eval --fit … --threshold 0.25``; the weights ship in
``actions/router_weights.json``. Refit after retraining the NLU or changing the KB's gate: the confidences move.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

WEIGHTS = Path(__file__).with_name("router_weights.json")
THRESHOLD = 0.5
_DIGITS = re.compile(r"\d{4,}")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Signals:
    """What is known about one message when the router decides."""

    text: str
    ranking: Mapping[str, float]  # intent → NLU confidence
    has_order: bool = False
    kb_conf: float = 0.0
    kb_sure: bool = False
    kb_abstained: bool = True

    @classmethod
    def of(cls, message: Mapping[str, Any], answer: Any | None) -> Signals:
        """From a Rasa ``latest_message`` and the knowledge service's answer (None: no answer)."""
        ranking = {str(r.get("name")): float(r.get("confidence") or 0.0) for r in message.get("intent_ranking") or []}
        intent = message.get("intent") or {}
        if not ranking and intent.get("name"):
            ranking = {str(intent["name"]): float(intent.get("confidence") or 0.0)}
        has_order = any(e.get("entity") == "order_id" for e in message.get("entities") or [])
        unasked = cls(str(message.get("text") or ""), ranking, has_order)
        return unasked if answer is None else unasked.answered(answer)

    def answered(self, answer: Any) -> Signals:
        """The same message with the knowledge service's answer (its confidence, sure flag, abstention)."""
        abstained = bool(answer.abstained)
        return replace(self, kb_conf=float(answer.confidence), kb_sure=bool(answer.sure) and not abstained,
                       kb_abstained=abstained)  # fmt: skip


def grams(text: str) -> set[str]:
    """Character 1- and 2-grams of the normalised text, with ^ and $ marking its ends (吗$, ^我要)."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = _SPACE.sub(" ", _DIGITS.sub("0", t)).strip()
    s = f"^{t}$"
    return {s[i : i + n] for n in (1, 2) for i in range(len(s) - n + 1)}


@dataclass
class Router:
    """A fitted logistic decision. ``intents`` and ``vocab`` fix the feature order."""

    intents: list[str]
    vocab: list[str]
    mean: list[float]  # standardisation of the dense features
    scale: list[float]
    w_dense: list[float]
    w_text: list[float]
    bias: float
    threshold: float = THRESHOLD
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._index = {g: i for i, g in enumerate(self.vocab)}

    def dense(self, s: Signals) -> list[float]:
        return dense_features(s, self.intents)

    def probability(self, s: Signals) -> float:
        d = self.dense(s)
        z = self.bias + sum((x - m) / c * w for x, m, c, w in zip(d, self.mean, self.scale, self.w_dense, strict=True))
        z += sum(self.w_text[self._index[g]] for g in grams(s.text) if g in self._index)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def could_take(self, s: Signals) -> bool:
        """Whether any answer of the KB could make this message the KB's. The decision is affine in each of the
        KB's confidence, sure flag and abstention (no feature multiplies two of them), so its largest value is
        at a corner: when not even the best corner reaches the threshold, the KB need not be asked."""
        corners = [(conf, sure, abst) for conf in (0.0, 1.0) for sure in (False, True) for abst in (False, True)
                   if not (sure and abst)]  # fmt: skip
        return any(self.probability(replace(s, kb_conf=c, kb_sure=su, kb_abstained=a)) >= self.threshold
                   for c, su, a in corners)  # fmt: skip

    def to_kb(self, s: Signals) -> bool:
        """Answer this message from the knowledge base (when the KB has an answer at all)."""
        return not s.kb_abstained and self.probability(s) >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in
                ("intents", "vocab", "mean", "scale", "w_dense", "w_text", "bias", "threshold", "meta")}  # fmt: skip

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Router:
        return cls(list(d["intents"]), list(d["vocab"]), list(d["mean"]), list(d["scale"]), list(d["w_dense"]),
                   list(d["w_text"]), float(d["bias"]), float(d.get("threshold", THRESHOLD)),
                   dict(d.get("meta") or {}))  # fmt: skip


KB_INTENTS = ("ask_question", "nlu_fallback")
# The intents whose actions consult the router (data/rules.yml): the KB's own, the ones the NLU may confuse with
# a question, and the order lookups when no order number came with them (with one, the order is looked up).
ASKED = frozenset({*KB_INTENTS, "out_of_scope", "product_inquiry", "complaint", "return_refund", "change_address"})
ASKED_WITHOUT_ORDER = frozenset({"order_status", "logistics", "cancel_order"})


def consulted(intent: str, has_order: bool) -> bool:
    """Whether the action that handles ``intent`` asks the router at all."""
    return intent in ASKED or (intent in ASKED_WITHOUT_ORDER and not has_order)


def dense_features(s: Signals, intents: Sequence[str]) -> list[float]:
    """The intent ranking, the order number and the KB's confidence, and how they combine."""
    p_kb = sum(s.ranking.get(i, 0.0) for i in KB_INTENTS)
    sure = float(s.kb_sure)
    return [*(s.ranking.get(i, 0.0) for i in intents), float(s.has_order), s.kb_conf, sure, float(s.kb_abstained),
            s.kb_conf * p_kb, sure * p_kb, sure * (1.0 - p_kb)]  # fmt: skip


def fit(rows: Iterable[tuple[Signals, int]], intents: Sequence[str], *, l2: float = 1.0, min_df: int = 2,
        steps: int = 2000, lr: float = 0.5) -> Router:  # fmt: skip
    """Fit the decision on (signals, 1 = answer from the KB / 0 = not) pairs; both classes weigh the same."""
    import numpy as np

    from bot.logistic import fit_logistic

    rows = list(rows)
    counts: dict[str, int] = {}
    for s, _ in rows:
        for g in grams(s.text):
            counts[g] = counts.get(g, 0) + 1
    vocab = sorted(g for g, c in counts.items() if c >= min_df)
    index = {g: i for i, g in enumerate(vocab)}
    dense = np.asarray([dense_features(s, intents) for s, _ in rows], dtype=np.float64)
    mean, scale = dense.mean(0), dense.std(0) + 1e-6
    text = np.zeros((len(rows), len(vocab)))
    for r, (s, _) in enumerate(rows):
        for g in grams(s.text):
            if g in index:
                text[r, index[g]] = 1.0
    x = np.hstack([(dense - mean) / scale, text])
    y = np.asarray([float(label) for _, label in rows])
    weight = np.where(y > 0, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))  # classes balanced
    w, b = fit_logistic(x, y, weight, l2=l2, steps=steps, lr=lr)
    n = dense.shape[1]
    return Router(list(intents), vocab, mean.tolist(), scale.tolist(), w[:n].tolist(), w[n:].tolist(), b)


@functools.cache
def shipped_router() -> Router:
    return Router.from_json(json.loads(WEIGHTS.read_text(encoding="utf-8")))
