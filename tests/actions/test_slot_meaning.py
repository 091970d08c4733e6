"""Whether a reply to the bot's question can be a form's free-text value (actions/slot_meaning.py), and how the
return form's checks use the NLU's reading of it (actions/form_actions.py)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker

from actions.form_actions import normalize_reason, reads_as_answer
from actions.slot_meaning import NOT_AN_ANSWER, has_content, is_answer


@pytest.mark.parametrize("text", [
    "", "   ", "哈哈", "哈哈哈哈哈", "呵呵", "嗯", "嗯嗯嗯", "哦", "啊啊啊", "额", "emmm", "hhh", "haha", "666",
    "???", "。。。", "😂😂", "👍", "不知道", "我也不知道啊", "不清楚", "随便", "随便吧", "没啥", "没什么原因",
    "无所谓", "说不上来", "不好说呢", "嘿嘿 不知道",
])  # fmt: skip
def test_filler_laughter_and_shrugs_say_nothing(text: str) -> None:
    assert not has_content(text)


@pytest.mark.parametrize("text", [
    "尺码小了", "开线了", "鞋子开胶了", "色差大", "有股怪味", "不想要了", "拍错了", "质量问题", "发错货",
    "不知道为什么一洗就缩水了", "说不上来 穿着就是磨脚", "ok的就是颜色不对", "太大", "破了",
    "浙江省杭州市西湖区文三路90号",
])  # fmt: skip
def test_a_reason_or_an_address_says_something(text: str) -> None:
    assert has_content(text)


@pytest.mark.parametrize("intent", sorted(NOT_AN_ANSWER))
def test_what_the_nlu_reads_as_no_answer_is_never_a_value(intent: str) -> None:
    assert not is_answer(intent, "尺码小了")


@pytest.mark.parametrize("intent", ["inform", "complaint", "return_refund", "nlu_fallback", None])
def test_answers_the_nlu_reads_as_information_or_a_problem_are_values(intent: str | None) -> None:
    assert is_answer(intent, "穿了一天就开线了")


def tracker(text: str, intent: str, ranking: list[tuple[str, float]], requested: str = "return_reason") -> Tracker:
    message: dict[str, Any] = {"text": text, "intent": {"name": intent, "confidence": ranking[0][1]},
                               "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking]}  # fmt: skip
    return Tracker("s1", {"requested_slot": requested}, message, [], False, None, {"name": "return_form"}, "")


def test_a_reply_the_nlu_half_reads_as_calling_off_is_not_taken_as_the_reason() -> None:
    assert reads_as_answer(tracker("开线了", "inform", [("inform", 0.9), ("stop", 0.05)]))
    assert not reads_as_answer(tracker("算了吧", "inform", [("inform", 0.5), ("stop", 0.4)]))
    assert not reads_as_answer(tracker("不了", "inform", [("inform", 0.55), ("deny", 0.35)]))
    assert not reads_as_answer(tracker("算了", "stop", [("stop", 0.97)]))
    assert not reads_as_answer(tracker("哈哈", "inform", [("inform", 0.8)]))


def test_normalize_reason_maps_known_reasons_and_keeps_free_text() -> None:
    assert normalize_reason("鞋子开线了") == "质量问题"
    assert normalize_reason("七天无理由退货") == "不想要了"
    assert normalize_reason("色差太大了") == "与描述不符"  # the first reason word said, not 大了
    assert normalize_reason("太大了 颜色也不对") == "尺码/颜色不合适"
    assert normalize_reason("买来送人 对方已经有了") == "买来送人 对方已经有了"
    assert normalize_reason("哈哈哈") is None
    assert normalize_reason("不知道") is None
    assert normalize_reason("x" * 201) is None


def test_the_domain_keeps_the_same_intents_out_of_every_free_text_slot() -> None:
    # domain.yml's not_intent lists and NOT_AN_ANSWER say the same thing in two places: they must agree
    import yaml

    from tests.conftest import REPO

    slots = yaml.safe_load((REPO / "domain.yml").read_text(encoding="utf-8"))["slots"]
    lists = {name: frozenset(m["not_intent"]) for name, slot in slots.items() for m in slot["mappings"]
             if m.get("type") == "from_text"}  # fmt: skip
    assert set(lists) == {"return_reason", "new_address", "left_message"}
    assert all(v == NOT_AN_ANSWER for v in lists.values()), lists
