"""The LLM judge for unsure questions, against a fake OpenAI-compatible endpoint (an outside paid service):
the test sets the verdict, the service must act on it, and fall back to the gate when the judge fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from knowledge.judge import parse_pick
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl
from tests.knowledge.fake_llm import FakeOpenAI

# every question is "unsure" with this band, so each one goes to the judge
WIDE = {"suggest_threshold": 0.001, "gate_threshold": 0.5, "sure_threshold": 0.999}


@pytest.fixture
def judged(fresh_service: Callable[..., KnowledgeService], tmp_path: Path,
           fake_llm: FakeOpenAI) -> Callable[..., KnowledgeService]:  # fmt: skip
    home = tmp_path / "home"
    fresh_service(home=home).import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "default")

    def make(model: str = "fake-ok", knowledge: dict[str, object] | None = None, timeout: float = 5.0,
             **extra: object) -> KnowledgeService:  # fmt: skip
        llm = {"type": "openai", "base_url": fake_llm.base_url, "model": model, "api_key": "sk-test",
               "timeout": timeout}  # fmt: skip
        tuning = {**WIDE, **(knowledge or {}), "llm_answer_faq_directly": True}
        return fresh_service({"llm": llm, "knowledge": tuning, **extra}, home=home)

    return make


def judge_requests(fake: FakeOpenAI) -> list[str]:
    return [r["messages"][-1]["content"] for r in fake.requests if "【候选知识】" in r["messages"][-1]["content"]]


def test_parse_pick() -> None:
    assert parse_pick("2", 3) == 1
    assert parse_pick("答案：[1]", 3) == 0
    assert parse_pick("0", 3) is None
    for bad in ("不知道", "7", ""):
        with pytest.raises(ValueError):
            parse_pick(bad, 3)


def test_the_judges_pick_is_answered(judged: Callable[..., KnowledgeService], fake_llm: FakeOpenAI) -> None:
    svc = judged()
    _, passages = svc.search("我想退货", "default")
    assert passages[0].id == "q1"
    second = passages[1].id
    fake_llm.judge_reply = "2"
    ans = svc.answer("退货的话怎么弄", "default")  # a new question: not answered from the cache
    sent = judge_requests(fake_llm)[-1]
    assert "【用户问题】退货的话怎么弄" in sent and "[1]" in sent and "[3]" in sent
    assert not ans.abstained and ans.citations[0].id == second
    assert svc.metrics["judge_pick"] == 1


def test_the_judge_can_refuse(judged: Callable[..., KnowledgeService], fake_llm: FakeOpenAI) -> None:
    svc = judged()
    fake_llm.judge_reply = "0"
    ans = svc.answer("退货的话怎么弄", "default")
    assert ans.abstained and svc.metrics["judge_none"] == 1
    assert svc.search("退货的话怎么弄", "default")[0].reason == "judge_none"


def test_sure_and_hopeless_questions_skip_the_judge(judged: Callable[..., KnowledgeService],
                                                    fake_llm: FakeOpenAI) -> None:  # fmt: skip
    svc = judged(knowledge={"suggest_threshold": 0.3, "gate_threshold": 0.6, "sure_threshold": 0.85})
    result, _ = svc.search("我想退货", "default")
    assert result.confidence >= 0.85 and result.accepted
    result, _ = svc.search("明天会下雨吗", "default")
    assert result.confidence < 0.3 and not result.accepted
    assert judge_requests(fake_llm) == []


@pytest.mark.parametrize(("model", "reply"), [("fake-ok", "我觉得都行"), ("fake-error", "1"), ("fake-slow", "1")])
def test_a_failing_judge_leaves_the_gate_deciding(judged: Callable[..., KnowledgeService], fake_llm: FakeOpenAI,
                                                  model: str, reply: str) -> None:  # fmt: skip
    svc = judged(model=model, timeout=0.5)
    fake_llm.judge_reply = reply
    result, passages = svc.search("退货的话怎么弄", "default")
    assert result.accepted and result.reason == "gate" and passages[0].id == "q1"
    assert svc.metrics["judge_error"] == 1


def test_the_judge_sees_masked_questions_and_can_be_off(judged: Callable[..., KnowledgeService],
                                                         fake_llm: FakeOpenAI) -> None:  # fmt: skip
    judged().search("退货的话怎么弄 手机13812345678", "default")
    assert "13812345678" not in judge_requests(fake_llm)[-1]
    n = len(fake_llm.requests)
    off = judged(knowledge={"llm_judge": False})
    assert off.judge is None and off.search("退货的话怎么弄", "default")[0].reason == "gate"
    assert len(fake_llm.requests) == n
