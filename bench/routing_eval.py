"""Routing by hand-written rules against routing learned from the NLU's intent ranking and the KB's confidence.

Today ``actions.knowledge_actions.kb_bar`` decides, from the NLU's top intent and regexes over the text
(question markers, escalation words, address words, a length threshold), whether a message may be answered
from the knowledge base and how sure the KB must be. The alternative measured here uses no word list: a
logistic decision over the NLU's whole intent ranking, whether an order number was found, and the KB's own
confidence, sure flag and abstention, fitted on labelled lines. Each set is held out in turn (fitted on the
others), so every learned number is on lines the decision was not fitted on.

Lines and labels (all dev sets, docs/evaluation.md; never tests/blind/):
* KB eval files: an in-scope question should be answered from the KB (1), an out-of-scope one not (0);
  "correct" also needs the KB's first citation to be an expected one;
* NLU test files: an ``ask_question`` line should be answered from the KB (1); every other intent goes to its
  own action (0): a task, a greeting, a complaint for a person, chit-chat;
* the routing dev set (tests/routing/routing_dev.jsonl, written for this): route ``kb`` should be answered from
  the KB, ``task``/``person``/``product``/``other`` not; a line whose acceptable routes include both is not
  scored. (tests/blind/routing_blind.jsonl is measured once, with ``--blind``, when the routing is chosen.)

    CSBOT_HOME=... python -m bench.routing_eval [--dump rows.jsonl]
(the home must hold the imported sample KB and the model ``csbot train`` made)
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from actions.knowledge_actions import about_address, kb_bar
from bench.rasa_bench import free_port, start_rasa
from bot.rasa_env import child_env, model_path, rasa_api_headers
from bot.settings import load_settings
from knowledge.evaluation import load_cases
from knowledge.service import KnowledgeService

KB_SETS = ["knowledge/samples/eval.jsonl", "tests/data/kb_heldout.jsonl", "tests/data/kb_heldout2.jsonl",
           "tests/data/kb_heldout3.jsonl", "tests/data/kb_heldout4.jsonl"]  # fmt: skip
NLU_SETS = ["tests/nlu/test_nlu.yml", "tests/nlu/test_nlu_hard.yml"]
ROUTING_SETS = ["tests/routing/routing_dev.jsonl"]
KB_INTENTS = ("ask_question", "nlu_fallback")


@dataclass
class Row:
    file: str
    text: str
    ranking: dict[str, float]
    has_order: bool
    kb_conf: float
    kb_sure: bool
    kb_abstained: bool
    label: int
    correct: bool  # the KB's first citation is an expected one (KB sets); the label for the others
    either: bool = False  # both answering from the KB and not are acceptable: not scored

    @property
    def intent(self) -> str:
        return max(self.ranking, key=lambda k: self.ranking[k]) if self.ranking else "nlu_fallback"


def nlu_lines(path: str) -> list[tuple[str, str]]:
    out = []
    for block in yaml.safe_load(Path(path).read_text(encoding="utf-8"))["nlu"]:
        for line in (block.get("examples") or "").splitlines():
            text = line.strip().removeprefix("- ").strip()
            if text and "intent" in block:
                out.append((block["intent"], _plain(text)))
    return out


def _plain(text: str) -> str:
    """Entity annotations [value](entity) / [value]{...} read as the customer typed them."""
    import re

    return re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", text)


def collect(port: int, svc: KnowledgeService, tenant: str, headers: dict[str, str],
            routing_sets: list[str]) -> list[Row]:  # fmt: skip
    rows: list[Row] = []

    def row(file: str, text: str, label: int, expected: tuple[str, ...] | None, either: bool = False) -> Row:
        r = httpx.post(f"http://127.0.0.1:{port}/model/parse", json={"text": text}, headers=headers, timeout=30)
        r.raise_for_status()
        parse = r.json()
        ranking = {r["name"]: float(r["confidence"]) for r in parse.get("intent_ranking") or []}
        if not ranking and parse.get("intent"):
            ranking = {parse["intent"]["name"]: float(parse["intent"].get("confidence") or 0.0)}
        has_order = any(e["entity"] == "order_id" for e in parse.get("entities", []))
        ans = svc.answer(text, tenant)
        top = ans.citations[0].id.split("#")[0] if ans.citations else None
        correct = bool(label) if expected is None else (
            top is not None and any(top == e or top == e.split("#")[0] for e in expected))  # fmt: skip
        return Row(file, text, ranking, has_order, float(ans.confidence), bool(ans.sure), bool(ans.abstained),
                   label, correct, either)  # fmt: skip

    for f in KB_SETS:
        for c in load_cases(Path(f)):
            rows.append(row(f, c.query, int(bool(c.expected)), c.expected or ()))
    for f in NLU_SETS:
        for intent, text in nlu_lines(f):
            rows.append(row(f, text, int(intent == "ask_question"), None))
    for f in routing_sets:
        for line in Path(f).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            routes = {item["route"], *(item.get("also") or ())}
            either = "kb" in routes and len(routes) > 1
            rows.append(row(f, item["query"], int(item["route"] == "kb"), None, either))
    return rows


def ruled(r: Row) -> bool:
    """What the actions do today: answered from the KB or not."""
    intent = r.intent
    if intent == "change_address" and not about_address(r.text):
        intent = "ask_question"
    bar = kb_bar(intent, r.text, r.has_order)
    return bool((bar == "answer" and not r.kb_abstained) or (bar == "sure" and r.kb_sure))


def features(rows: list[Row], intents: list[str]) -> np.ndarray:
    x = [[r.ranking.get(i, 0.0) for i in intents]
         + [float(r.has_order), r.kb_conf, float(r.kb_sure), float(r.kb_abstained),
            r.kb_conf * sum(r.ranking.get(i, 0.0) for i in KB_INTENTS)] for r in rows]  # fmt: skip
    return np.asarray(x, dtype=np.float64)


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 3000, lr: float = 0.2) -> Any:
    mean, scale = x.mean(0), x.std(0) + 1e-9
    z = (x - mean) / scale
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        g = p - y
        w -= lr * (z.T @ g / len(y) + l2 * w / len(y))
        b -= lr * float(g.mean())
    return lambda xs: 1.0 / (1.0 + np.exp(-(((xs - mean) / scale) @ w + b)))


def score(rows: list[Row], answered: list[bool]) -> dict[str, Any]:
    kept = [(r, a) for r, a in zip(rows, answered, strict=True) if not r.either]
    rows, answered = [r for r, _ in kept], [a for _, a in kept]
    pos = [(r, a) for r, a in zip(rows, answered, strict=True) if r.label]
    neg = [(r, a) for r, a in zip(rows, answered, strict=True) if not r.label]
    return {"should answer": len(pos), "answered": round(sum(a for _, a in pos) / max(len(pos), 1), 3),
            "answered correctly": round(sum(a and r.correct for r, a in pos) / max(len(pos), 1), 3),
            "should not": len(neg), "answered by mistake": round(sum(a for _, a in neg) / max(len(neg), 1), 3)}


def main(argv: list[str]) -> None:
    s = load_settings()
    svc = KnowledgeService.from_settings(s)
    endpoints = s.home / "bench" / "endpoints-parse.yml"
    endpoints.parent.mkdir(parents=True, exist_ok=True)
    endpoints.write_text(yaml.safe_dump({"tracker_store": {"type": "in_memory"}}))
    port = free_port()
    proc, _ = start_rasa(model_path(s), endpoints, port, child_env(s), s.home / "bench" / "rasa-routing.log")
    try:
        routing = ROUTING_SETS + (["tests/blind/routing_blind.jsonl"] if "--blind" in argv else [])
        rows = collect(port, svc, s.default_tenant, rasa_api_headers(s), routing)
    finally:
        os.killpg(proc.pid, 15)
        svc.close()
    if "--dump" in argv:
        out = Path(argv[argv.index("--dump") + 1])
        out.write_text("".join(json.dumps(r.__dict__, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    intents = sorted({i for r in rows for i in r.ranking})
    x, y = features(rows, intents), np.asarray([r.label for r in rows], dtype=np.float64)
    blind = np.asarray([r.file.startswith("tests/blind/") for r in rows])
    for f in dict.fromkeys(r.file for r in rows):  # each set held out in turn; a blind set is never fitted on
        held = np.asarray([r.file == f for r in rows])
        predict = fit(x[~held & ~blind], y[~held & ~blind])
        mine = [r for r in rows if r.file == f]
        learned = [bool(p >= 0.5) and not r.kb_abstained for p, r in zip(predict(x[held]), mine, strict=True)]
        print(json.dumps({"set": f, "rules": score(mine, [ruled(r) for r in mine]),
                          "learned (held out)": score(mine, learned)}, ensure_ascii=False), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
