"""The router as a function: what it reads from a message, how it is fitted, and the weights that ship.

Whether the shipped router sends real messages the right way is measured by ``python -m bench.routing_eval``
(docs/benchmarks.md) and checked end to end, with the real NLU and KB, in ``tests/e2e/test_router_cases.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from actions.router import WEIGHTS, Router, Signals, consulted, fit, grams, shipped_router

INTENTS = ["ask_question", "return_refund", "greet"]


def test_signals_read_the_ranking_the_order_number_and_the_kb_answer() -> None:
    message = {"text": "退货运费谁出", "intent": {"name": "return_refund", "confidence": 0.6},
               "intent_ranking": [{"name": "return_refund", "confidence": 0.6},
                                  {"name": "ask_question", "confidence": 0.3}],
               "entities": [{"entity": "order_id", "value": "250212075519846031"}]}  # fmt: skip
    s = Signals.of(message, SimpleNamespace(confidence=0.9, sure=True, abstained=False))
    assert s.ranking == {"return_refund": 0.6, "ask_question": 0.3}
    assert (s.has_order, s.kb_conf, s.kb_sure, s.kb_abstained) == (True, 0.9, True, False)
    # an abstaining KB is never "sure", whatever it said; no answer at all reads as an abstention
    assert not Signals.of(message, SimpleNamespace(confidence=0.9, sure=True, abstained=True)).kb_sure
    assert Signals.of({"text": "x", "intent": {"name": "greet", "confidence": 1.0}}, None).kb_abstained
    assert Signals.of({"text": "x", "intent": {"name": "greet", "confidence": 1.0}}, None).ranking == {"greet": 1.0}


def test_grams_fold_digit_runs_case_width_and_spaces() -> None:
    assert grams("ＯＫ 250212075519846031") == grams("ok   250399999999999999")
    assert {"^我", "吗$", "0"} <= grams("我 能退吗") | grams("单号1234")


def _toy() -> list[tuple[Signals, int]]:
    """Questions (…吗 / 怎么…) go to the KB, requests (帮我…) do not, whatever the NLU says; a KB that is far
    from any answer sends nothing."""
    rows = []
    for i, topic in enumerate(["退货", "换货", "发票", "运费", "地址", "物流", "优惠券", "积分"]):
        rank = {"ask_question": 0.3, "return_refund": 0.6} if i % 2 else {"ask_question": 0.6, "return_refund": 0.3}
        rows += [(Signals(f"{topic}能退吗", rank, kb_conf=0.9, kb_sure=True, kb_abstained=False), 1),
                 (Signals(f"{topic}怎么弄", rank, kb_conf=0.8, kb_abstained=False), 1),
                 (Signals(f"帮我{topic}", rank, kb_conf=0.9, kb_sure=True, kb_abstained=False), 0),
                 (Signals(f"帮我弄{topic}", rank, kb_conf=0.8, kb_abstained=False), 0),
                 (Signals(f"{topic}是啥吗", rank, kb_conf=0.05), 0)]  # fmt: skip
    return rows


def test_fit_learns_the_wording_and_the_kb_confidence_not_a_list() -> None:
    router = fit(_toy(), INTENTS, l2=0.1)
    rank = {"ask_question": 0.5, "return_refund": 0.5}
    asks = Signals("尺码能退吗", rank, kb_conf=0.9, kb_sure=True, kb_abstained=False)
    orders = Signals("帮我换尺码", rank, kb_conf=0.9, kb_sure=True, kb_abstained=False)
    far = Signals("尺码能退吗", rank, kb_conf=0.05, kb_abstained=False)
    assert router.probability(asks) > 0.8 and router.to_kb(asks)
    assert router.probability(orders) < 0.2 and not router.to_kb(orders)
    assert router.probability(far) < router.probability(asks)
    # the KB must have an answer: the router never answers for an abstaining KB
    assert not router.to_kb(Signals("尺码能退吗", rank, kb_conf=0.9, kb_abstained=True))


def test_could_take_is_an_exact_bound_so_skipping_the_kb_never_changes_a_verdict() -> None:
    import random

    rng = random.Random(7)
    router = fit(_toy(), INTENTS, l2=0.1)
    skipped = 0
    for _ in range(2000):
        text = rng.choice(["帮我退货", "帮我弄发票", "退货能退吗", "运费怎么弄", "你好", "积分是啥吗"])
        ranking = {i: rng.random() for i in INTENTS}
        base = Signals(text, ranking, has_order=rng.random() < 0.3)
        if router.could_take(base):
            continue
        skipped += 1
        for _ in range(20):  # no answer of the KB, of any confidence, would have made it the KB's
            abstained = rng.random() < 0.5
            s = replace(base, kb_conf=rng.random(), kb_sure=not abstained and rng.random() < 0.5,
                        kb_abstained=abstained)  # fmt: skip
            assert router.probability(s) < router.threshold, s
    assert skipped > 100  # the bound does spare the KB call for plain requests


def test_weights_round_trip_through_json() -> None:
    router = fit(_toy(), INTENTS, l2=0.1)
    again = Router.from_json(json.loads(json.dumps(router.to_json())))
    for s, _ in _toy():
        assert again.probability(s) == pytest.approx(router.probability(s), abs=1e-12)


def test_the_shipped_weights_say_what_they_were_fitted_on() -> None:
    router = shipped_router()
    meta = json.loads(WEIGHTS.read_text(encoding="utf-8"))["meta"]
    assert meta["fitted_on"] == "data/routing/routing_train.jsonl" and meta["lines"] >= 300
    # lines added to the training set do nothing until the router is refitted (README: bench.routing_eval --fit)
    train = (Path(__file__).parents[2] / meta["fitted_on"]).read_bytes()
    assert meta["train_sha256"] == hashlib.sha256(train).hexdigest(), "routing_train.jsonl changed: refit the router"
    assert len(router.w_dense) == len(router.mean) == len(router.scale) and len(router.w_text) == len(router.vocab)
    # the NLU's intents as the domain declares them: a renamed intent would silently weigh nothing
    domain = yaml.safe_load((Path(__file__).parents[2] / "domain.yml").read_text(encoding="utf-8"))
    assert set(router.intents) <= set(domain["intents"]) | {"nlu_fallback"}
    assert {"ask_question", "return_refund", "out_of_scope", "complaint"} <= set(router.intents)


@pytest.mark.parametrize(("intent", "has_order", "asked"), [
    ("ask_question", False, True), ("nlu_fallback", True, True), ("out_of_scope", False, True),
    ("product_inquiry", False, True), ("complaint", False, True), ("return_refund", True, True),
    ("change_address", False, True), ("logistics", False, True), ("logistics", True, False),
    ("order_status", True, False), ("cancel_order", False, True), ("greet", False, False),
    ("affirm", False, False), ("request_human", False, False), ("inform", False, False), ("stop", False, False),
])  # fmt: skip
def test_which_actions_consult_the_router(intent: str, has_order: bool, asked: bool) -> None:
    assert consulted(intent, has_order) is asked
