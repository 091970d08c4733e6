"""The hand-written routing rules the learned router (``actions.router``) replaced, kept only to compare with.

Until 2026-12-02 the actions decided from the NLU's top intent plus regexes over the text (question markers,
request and escalation words, address words, a length threshold) whether the knowledge base may answer and how
sure it must be. ``bench.routing_eval`` and ``bench.assistant_kb_eval --legacy`` measure them beside the router.
"""

from __future__ import annotations

import re

# A message that asks about a rule rather than giving an order: 退货运费谁出 / 快递一般几天到 / 能改地址吗
QUESTION_MARKERS = re.compile(r"怎|咋|如何|多久|几天|多少|多长|谁|哪|什么|啥|吗|么|嘛|是否|[?？]"
                              # A-not-A questions (行不行, 要不要, 有没有, 可不可以) and a final 不/没 (差价能退不)
                              r"|(\w)[不没]\1|[不没][\s。！!~～]*$")


# "包裹在转运中心躺了4天了 一点动静都没有": a situation described at length, not a bare command (查物流)
MIN_SITUATION_CHARS = 8
# the customer asks us to act: start the task, do not lecture
REQUEST_MARKERS = re.compile(r"我要|我想|帮我|给我|申请|麻烦")
ORDER_INTENTS = ("order_status", "logistics", "cancel_order", "return_refund", "change_address")
# an angry customer who wants a person, not an FAQ: 我要投诉 / 找你们领导 / 服务太差
ESCALATION_MARKERS = re.compile(
    r"投诉|差评|举报|上级|领导|经理|12315|消协|工商|曝光|律师|起诉|骗子|垃圾|敷衍|态度|太差|气死"
)


# what an address change talks about; "change" without any of it (发票抬头写错了 / 颜色拍错了) is another question
ADDRESS_WORDS = re.compile(r"地址|收货|收件|寄到|送到|送货|搬家|门牌|小区|街道|路|省|市|区|县|电话|手机")


def looks_like_question(text: str) -> bool:
    return bool(QUESTION_MARKERS.search(text))


def about_address(text: str) -> bool:
    return bool(ADDRESS_WORDS.search(text))


def kb_bar(intent: str, text: str, has_order_id: bool) -> str | None:
    """How sure the KB must be to answer a message the NLU routed to ``intent``: "answer", "sure" or None.

    The NLU labels some shop questions out_of_scope or complaint (能把我的账户数据打包发我吗 → out_of_scope), and
    customers describe order problems without an order number (退回的包裹仓库早签收了 款还没到). The KB answers
    those only when it is sure; messages routed to the KB itself (ask_question, nlu_fallback) and rule
    questions worded like order requests (退货运费谁出) need the normal gate.
    """
    if intent in ("ask_question", "nlu_fallback"):
        return "answer"
    if intent == "out_of_scope":
        return "sure"
    if intent == "complaint":
        # a problem stated angrily (扣了我两次钱！！ / 优惠券是灰的点不了) still has a policy answer
        return "sure" if looks_like_question(text) or not ESCALATION_MARKERS.search(text) else None
    if intent == "change_address" and not about_address(text):
        return "answer"  # not an address at all: a question like any other (action_triage_request)
    if intent in ORDER_INTENTS and not has_order_id:
        if looks_like_question(text):
            return "answer"
        if not REQUEST_MARKERS.search(text) and len(text.strip()) >= MIN_SITUATION_CHARS:
            return "sure"
    return None


def legacy_answers(intent: str, text: str, has_order: bool, kb_abstained: bool, kb_sure: bool) -> bool:
    """Whether the old actions answered this message from the KB (the triage's address check included)."""
    if intent == "product_inquiry":
        return kb_sure  # action_product_inquiry answered only when the KB was sure
    if intent == "change_address" and not about_address(text):
        intent = "ask_question"
    bar = kb_bar(intent, text, has_order)
    return bool((bar == "answer" and not kb_abstained) or (bar == "sure" and kb_sure))
