"""End-to-end answer quality: Rasa NLU routing + the knowledge base, on a KB eval file.

The KB eval (`csbot kb eval`) judges the knowledge base alone. In the assistant, a message reaches the KB
only when Rasa routes it there (intent ask_question, or nlu_fallback when unsure); out_of_scope and other
intents get their own replies. This script measures what a customer gets:

* in-scope query answered = the action this intent leads to consults the router (``actions.router``:
  ask_question / nlu_fallback, out_of_scope, product_inquiry, complaint, return/address requests, order lookups
  without an order number), the router sends it to the KB, the KB answered, and its first citation is expected
* out-of-scope query abstained = not answered by the KB (routed elsewhere, or the KB abstained)
* self_service = answered correctly, or the expected FAQ is among the buttons shown ("您是不是想问", or the
  nearest FAQ beside the order-number prompt; the latter counted since 2026-12-02, after the blind set 5 run)

    CSBOT_HOME=... python -m bench.assistant_kb_eval [--details] knowledge/samples/eval.jsonl tests/data/...
(the home must hold the imported KB; the Rasa model is the one `csbot train` made there)

Measured 2026-11-26 (docs/benchmarks.md): a looser KB gate for messages Rasa labels ask_question gained
1.5–8 points of answered questions but lost 9–12 points of abstention on out-of-scope ones: not adopted.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx
import yaml

from actions.router import ASKED_WITHOUT_ORDER, Signals, consulted, shipped_router
from bench.rasa_bench import free_port, start_rasa
from bot.rasa_env import child_env, model_path, rasa_api_headers
from bot.settings import load_settings
from knowledge.evaluation import load_cases
from knowledge.service import KnowledgeService

# these actions answer only when the router takes the KB's answer: no "您是不是想问" buttons there
NO_BUTTONS = ("out_of_scope", "product_inquiry")


def main(files: list[str], details: bool = False) -> None:
    s = load_settings()
    svc = KnowledgeService.from_settings(s)
    env = child_env(s)
    endpoints = s.home / "bench" / "endpoints-parse.yml"
    endpoints.parent.mkdir(parents=True, exist_ok=True)
    endpoints.write_text(yaml.safe_dump({"tracker_store": {"type": "in_memory"}}))
    port = free_port()
    log = s.home / "bench" / "rasa-parse.log"
    proc, _ = start_rasa(model_path(s), endpoints, port, env, log)
    headers = rasa_api_headers(s)
    router = shipped_router()
    try:
        for f in files:
            cases = load_cases(Path(f))
            ins = ok_in = oos = ok_oos = suggested = 0
            routed: dict[str, int] = {}
            for c in cases:
                r = httpx.post(f"http://127.0.0.1:{port}/model/parse", json={"text": c.query}, headers=headers,
                               timeout=30)  # fmt: skip
                r.raise_for_status()  # the server's API wants its key (bot.rasa_env): never read an error as a parse
                parse = r.json()
                intent = parse["intent"]["name"]
                routed[intent] = routed.get(intent, 0) + 1
                answered_id = None
                has_order = any(e["entity"] == "order_id" for e in parse.get("entities", []))
                offered: list[str] = []
                question = False
                if consulted(intent, has_order) and router.could_take(Signals.of(parse, None)):  # as the actions
                    ans = svc.answer(c.query, s.default_tenant)
                    question = router.probability(Signals.of(parse, ans)) >= router.threshold
                    if question and not ans.abstained and ans.citations:
                        answered_id = ans.citations[0].id.split("#")[0]
                    elif question and ans.abstained and ans.suggestions and intent not in NO_BUTTONS:
                        result, passages = svc.search(c.query, s.default_tenant)
                        offered = [p.id for p in svc.suggestions_for(result, passages)]
                    elif not question and not ans.abstained and ans.citations and intent in ASKED_WITHOUT_ORDER:
                        offered = [ans.citations[0].id.split("#")[0]]  # the order prompt's nearest-FAQ button
                if c.expected:
                    ins += 1
                    right = answered_id is not None and any(answered_id == e or answered_id.startswith(e + "#")
                                                             or answered_id == e.split("#")[0] for e in c.expected)
                    ok_in += right
                    suggested += answered_id is None and any(o in c.expected for o in offered)
                    if details and not right:  # one line per in-scope miss: where it went and what came back
                        print(json.dumps({"query": c.query, "expected": c.expected, "intent": intent, "to_kb": question,
                                          "answered": answered_id, "offered": offered}, ensure_ascii=False))
                else:
                    oos += 1
                    ok_oos += answered_id is None
            print(json.dumps({"file": f, "in_scope": ins, "answered_correctly": round(ok_in / max(ins, 1), 4),
                              "self_service": round((ok_in + suggested) / max(ins, 1), 4),
                              "out_of_scope": oos, "abstained": round(ok_oos / max(oos, 1), 4),
                              "routed_intents": routed}, ensure_ascii=False), flush=True)
    finally:
        os.killpg(proc.pid, 15)
        svc.close()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--details"]
    main(args, details="--details" in sys.argv[1:])
