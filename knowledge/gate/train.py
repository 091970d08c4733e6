"""Refit the gate from labelled questions against the KB in ``CSBOT_HOME``.

    export CSBOT_HOME=$(mktemp -d)      # a fresh home: the sample KB and nothing else
    csbot kb import knowledge/samples/faq.jsonl knowledge/samples/docs
    python -m knowledge.gate.train knowledge/samples/eval.jsonl [--label answerable|correct] [--out FILE]

Eval lines are the ``csbot kb eval`` format. ``answerable`` (default) labels every in-scope question 1;
``correct`` labels 1 only when the re-ranked top candidate is an expected one. The shipped weights were
fitted on knowledge/samples/eval.jsonl only. tests/data/kb_heldout*.jsonl were never fitted on, but none of
them is blind: each was looked at or re-measured while the gate, its anchors and the KB were tuned
(docs/evaluation.md); only a set measured once, after the last change, says how the gate generalises.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bot.settings import load_settings
from knowledge.evaluation import load_cases
from knowledge.gate.model import FEATURES, SHIPPED, GateModel
from knowledge.service import KnowledgeService

# features do not depend on the weights: any model lets search() compute them
_NEUTRAL = GateModel(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), (0.0,) * len(FEATURES), 0.0)


def collect(svc: KnowledgeService, paths: list[Path], label: str, tenant: str | None) -> tuple[list, list]:
    rows, labels = [], []
    for path in paths:
        for case in load_cases(path):
            result, passages = svc.search(case.query, tenant)
            if not result.candidates or "dense" not in result.features:
                continue  # empty KB or degraded: nothing for the gate to learn from
            top = passages[0].id.split("#", 1)[0]
            ok = bool(case.expected) and (label == "answerable" or top in case.expected)
            rows.append({f: result.features[f] for f in FEATURES})
            labels.append(int(ok))
    return rows, labels


def auc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knowledge.gate.train", description=__doc__.split("\n")[0])
    ap.add_argument("eval", nargs="+", type=Path)
    ap.add_argument("--label", choices=("answerable", "correct"), default="answerable")
    ap.add_argument("--tenant", default=None)
    ap.add_argument("--out", type=Path, default=SHIPPED)
    args = ap.parse_args(argv)
    svc = KnowledgeService.from_settings(load_settings())
    svc.__dict__["gate_model"] = _NEUTRAL
    try:
        rows, labels = collect(svc, args.eval, args.label, args.tenant)
    finally:
        svc.close()
    names = ",".join(p.name for p in args.eval)
    model = GateModel.fit(rows, labels, trained_on=f"{names} ({args.label}, n={len(rows)})")
    model.save(args.out)
    train_auc = auc([model.probability(r) for r in rows], labels)
    print(json.dumps({"n": len(rows), "positive": sum(labels), "train_auc": round(train_auc, 4),
                      "weights": dict(zip(model.features, model.weights, strict=True)), "out": str(args.out)},
                     ensure_ascii=False))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
