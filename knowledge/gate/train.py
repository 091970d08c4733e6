"""Refit the gate from labelled questions against the KB in ``CSBOT_HOME``.

    export CSBOT_HOME=$(mktemp -d)      # a fresh home: the sample KB and nothing else
    csbot kb import knowledge/samples/faq.jsonl knowledge/samples/docs
    python -m knowledge.gate.train knowledge/samples/eval.jsonl [--label answerable|correct] [--out FILE]

Eval lines are the ``csbot kb eval`` format. ``answerable`` (default) labels every in-scope question 1;
``correct`` labels 1 only when the re-ranked top candidate is an expected one.

Two sets of weights (knowledge/gate/model.py): questions whose top candidate is an FAQ with few phrasings
fit the ``sparse`` weights (both classes weighted equally: out-of-scope questions mostly land on documents,
so these rows are ~86% in scope and an unweighted fit answered almost anything), the others the main
weights. ``--shape`` refits one of them and keeps the other from ``--out``. The shipped weights:

    main:   the sample KB (faq.jsonl + docs), knowledge/samples/eval.jsonl
    sparse: the question+answer-only sample KB (faq_qa_only.jsonl + docs) in tenant qa-only, the same file:
            csbot kb import knowledge/samples/faq_qa_only.jsonl knowledge/samples/docs --tenant qa-only
            python -m knowledge.gate.train knowledge/samples/eval.jsonl --tenant qa-only --shape sparse

tests/data/kb_heldout*.jsonl were never fitted on, but none of them is blind: each was looked at or
re-measured while the gate, its anchors and the KB were tuned (docs/evaluation.md); only a set measured
once, after the last change, says how the gate generalises.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import load_settings
from knowledge.evaluation import load_cases
from knowledge.gate.model import FEATURES, SHIPPED, GateModel
from knowledge.service import KnowledgeService

# features do not depend on the weights: any model lets search() compute them
_NEUTRAL = GateModel(FEATURES, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), (0.0,) * len(FEATURES), 0.0)


def collect(svc: KnowledgeService, paths: list[Path], label: str,
            tenants: list[str | None]) -> tuple[list[dict[str, float]], list[int]]:  # fmt: skip
    """Feature rows (with ``sparse_top``) and labels of every question, over every tenant."""
    rows, labels = [], []
    for tenant in tenants:
        for path in paths:
            for case in load_cases(path):
                result, passages = svc.search(case.query, tenant)
                if not result.candidates or "dense" not in result.features:
                    continue  # empty KB or degraded: nothing for the gate to learn from
                top = passages[0].id.split("#", 1)[0]
                ok = bool(case.expected) and (label == "answerable" or top in case.expected)
                rows.append({f: result.features[f] for f in (*FEATURES, "sparse_top")})
                labels.append(int(ok))
    return rows, labels


def auc(scores: list[float], labels: list[int]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def refit(current: GateModel, rows: list[dict[str, float]], labels: list[int], shape: str,
          trained_on: str) -> tuple[GateModel, dict[str, Any]]:  # fmt: skip
    """``current`` with the weights of ``shape`` (main, sparse, both) refitted from the rows of that shape."""
    model, summary = current, {}
    for part in ("main", "sparse") if shape == "both" else (shape,):
        sel = [(r, y) for r, y in zip(rows, labels, strict=True) if bool(r["sparse_top"]) == (part == "sparse")]
        ys = [y for _, y in sel]
        if len(set(ys)) < 2:
            if shape != "both":
                raise ValueError(f"no {part} rows with both answerable and out-of-scope questions")
            summary[part] = "kept (too few rows of this shape)"
            continue
        fitted = GateModel.fit([r for r, _ in sel], ys, trained_on=f"{trained_on}, {part} n={len(sel)}",
                               balanced=part == "sparse")  # fmt: skip
        model = model.with_sparse(fitted) if part == "sparse" else fitted.with_sparse(model.sparse)
        train_auc = auc([fitted.probability(r) for r, _ in sel], ys)
        summary[part] = {"n": len(sel), "positive": sum(ys), "train_auc": round(train_auc, 4),
                         "weights": dict(zip(fitted.features, fitted.weights, strict=True))}  # fmt: skip
    return model, summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m knowledge.gate.train", description=__doc__.split("\n")[0])
    ap.add_argument("eval", nargs="+", type=Path)
    ap.add_argument("--label", choices=("answerable", "correct"), default="answerable")
    ap.add_argument("--tenant", action="append", help="tenant whose KB answers the questions (repeatable)")
    ap.add_argument("--shape", choices=("both", "main", "sparse"), default="both",
                    help="which weights to refit; the other ones are kept from --out")  # fmt: skip
    ap.add_argument("--out", type=Path, default=SHIPPED)
    args = ap.parse_args(argv)
    current = GateModel.load(args.out) if args.out.is_file() else GateModel.load()
    svc = KnowledgeService.from_settings(load_settings())
    svc.__dict__["gate_model"] = _NEUTRAL
    try:
        rows, labels = collect(svc, args.eval, args.label, args.tenant or [None])
    finally:
        svc.close()
    names = ",".join(p.name for p in args.eval)
    tenants = ",".join(t for t in args.tenant or [])
    try:
        model, summary = refit(current, rows, labels, args.shape,
                               f"{names}{' @' + tenants if tenants else ''} ({args.label})")  # fmt: skip
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model.save(args.out)
    print(json.dumps({"n": len(rows), **summary, "out": str(args.out)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
