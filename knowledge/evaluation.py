"""``csbot kb eval``: recall@1/@5, MRR, in-scope answered, out-of-scope abstained, latency percentiles.

An eval line is ``{"query": "...", "expected": ["faq-id" | "doc:<source stem>", ...]}``; ``[]`` means the
system should abstain. A document hit matches ``doc:<stem>`` whatever its section. Beyond the issue's
fields: ``answered_correct`` (answered with an expected source first) and ``self_service`` (that, or an
expected FAQ among the suggestions offered when abstaining). Latency is the full
``search`` path (embedding + both retrievers + fusion + gating), no cache and no LLM.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import InvalidInput
from knowledge.service import KnowledgeService


@dataclass(frozen=True)
class EvalCase:
    query: str
    expected: tuple[str, ...]


def load_cases(path: Path) -> list[EvalCase]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            cases.append(EvalCase(str(obj["query"]), tuple(str(e) for e in obj.get("expected") or ())))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidInput(f"{path.name} line {n}: expected query and expected fields ({exc})") from None
    if not cases:
        raise InvalidInput(f"{path.name}: no eval cases")
    return cases


def _matches(cited: str, expected: Sequence[str]) -> bool:
    base = cited.split("#", 1)[0]
    return cited in expected or base in expected


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def evaluate(svc: KnowledgeService, cases: Sequence[EvalCase], tenant_id: str | None = None,
             details: bool = False) -> dict[str, Any]:  # fmt: skip
    r1 = r5 = rr = 0.0
    in_scope = answered = oos = abstained = correct = suggested = 0
    latencies: list[float] = []
    rows = []
    svc.warm_up(tenant_id)  # load the model, catalog and anchors outside the timings
    for case in cases:
        t = time.perf_counter()
        result, passages = svc.search(case.query, tenant_id)
        latencies.append((time.perf_counter() - t) * 1000)
        ids = [p.id for p in passages]
        # several sections of one document count once
        ranked: list[str] = []
        for i in ids:
            key = i.split("#", 1)[0]
            if key not in ranked:
                ranked.append(key)
        rank = next((n for n, i in enumerate(ranked, 1) if _matches(i, case.expected)), None)
        offered = [p.id for p in svc.suggestions_for(result, passages)]
        if case.expected:
            in_scope += 1
            answered += int(result.accepted)
            correct += int(result.accepted and rank == 1)
            suggested += int(not result.accepted and any(_matches(i, case.expected) for i in offered))
            r1 += int(rank == 1)
            r5 += int(rank is not None and rank <= 5)
            rr += 1.0 / rank if rank else 0.0
        else:
            oos += 1
            abstained += int(not result.accepted)
        if details:
            rows.append({"query": case.query, "expected": list(case.expected), "top": ranked[:5], "rank": rank,
                         "accepted": result.accepted, "reason": result.reason,
                         "features": {k: round(v, 4) for k, v in result.features.items()},
                         "scores": [round(c.score, 4) for c in result.candidates[:5]]})  # fmt: skip
    n_in = max(in_scope, 1)
    report: dict[str, Any] = {
        "n": len(cases),
        "recall@1": round(r1 / n_in, 4),
        "recall@5": round(r5 / n_in, 4),
        "mrr": round(rr / n_in, 4),
        "answered_in_scope": round(answered / n_in, 4),
        "abstained_oos": round(abstained / max(oos, 1), 4),
        # what a customer gets: the right answer, or the right FAQ among the "您是不是想问" buttons
        "answered_correct": round(correct / n_in, 4),
        "self_service": round((correct + suggested) / n_in, 4),
        "p50_ms": round(_pct(latencies, 0.5), 2),
        "p99_ms": round(_pct(latencies, 0.99), 2),
        "in_scope": in_scope,
        "out_of_scope": oos,
    }
    if details:
        report["details"] = rows
    return report
