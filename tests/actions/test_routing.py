"""Which NLU routes may ask the knowledge base, and how sure it must be (``kb_bar``, shared with the bench).

Most cases are evaluation lines: five from ``tests/data/kb_heldout2.jsonl`` (set 2), five from the dev set
``knowledge/samples/eval.jsonl`` and 取消订单 from ``tests/nlu/test_nlu_hard.yml``. The routing was tuned on
those sets, so they are development sets (docs/evaluation.md): nothing here measures routing on unseen text.
"""

from __future__ import annotations

import pytest

from actions.knowledge_actions import kb_bar


@pytest.mark.parametrize(("intent", "text", "has_order", "bar"), [
    ("ask_question", "退货运费谁出", False, "answer"),
    ("nlu_fallback", "呃 那个", False, "answer"),
    ("out_of_scope", "能寄到国外吗 我在美国", False, "sure"),  # the NLU is wrong sometimes: only a sure answer
    # complaints: questions and plainly stated problems may get a sure answer, escalations go to a person
    ("complaint", "客服处理得太敷衍了 找谁投诉", False, "sure"),
    ("complaint", "扣了我两次钱！！", False, "sure"),
    ("complaint", "我的优惠卷是灰的 点不了", False, "sure"),
    ("complaint", "我要投诉你们的售后！！", False, None),
    ("complaint", "你们这服务太差劲了 气死我了", False, None),
    ("complaint", "售后处理的太敷衍了 我要找上级反映", False, None),
    # order intents: a rule question or a described situation, not a task with its order number
    ("logistics", "快递一般几天到", False, "answer"),
    ("logistics", "包裹在转运中心躺了4天了 一点动静都没有", False, "sure"),
    ("logistics", "帮我查下物流", False, None),
    ("logistics", "送到了再给钱行不行", False, "answer"),  # A-not-A question
    ("logistics", "快递盒子都湿透了 要不要签收", False, "answer"),
    ("return_refund", "昨天买的今天降价了 差价能退不", False, "answer"),  # a final 不 asks
    ("return_refund", "不想要了", False, None),  # 不 at the start asks nothing
    ("logistics", "250509173022118899 物流轨迹在哪能查到", True, None),
    ("cancel_order", "取消订单", False, None),
    # "change" without an address is another question; a real address change is a task
    ("change_address", "发票抬头写错了", False, "answer"),
    ("change_address", "帮我把收货地址改成北京市朝阳区", False, None),
    ("greet", "你好", False, None),
])  # fmt: skip
def test_kb_bar(intent: str, text: str, has_order: bool, bar: str | None) -> None:
    assert kb_bar(intent, text, has_order) == bar
