"""``csbot kb eval --baseline`` and the question+answer-only sample KB (knowledge/samples/faq_qa_only.jsonl)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from knowledge.baseline import recall_report
from knowledge.cli import app
from knowledge.evaluation import EvalCase
from tests.knowledge.conftest import SAMPLES, write_jsonl

# three FAQs on clearly different things; no similar questions, so the baseline sees what the pipeline sees
TINY_FAQ = [
    {"id": "pay", "question": "支持哪些付款方式？", "answer": "可以用微信支付、支付宝或银行卡付款，也支持花呗分期。"},
    {"id": "ship", "question": "快递用的哪家？", "answer": "默认发顺丰快递，偏远地区改发邮政EMS，下单后48小时内发出。"},
    {"id": "wash", "question": "羊毛衫怎么洗？", "answer": "羊毛衫请用冷水手洗，放中性洗涤剂，平铺晾干，别用烘干机。"},
]  # fmt: skip


def run(home: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env["CSBOT_HOME"] = str(home)
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout


def test_eval_baseline_prints_both_and_the_baseline_finds_the_clear_answers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, output = run(home, "import", str(write_jsonl(tmp_path / "kb.jsonl", TINY_FAQ)), "--json")
    assert code == 0, output
    cases = write_jsonl(tmp_path / "q.jsonl", [
        {"query": "能用支付宝付钱吗", "expected": ["pay"]},
        {"query": "发的什么快递 顺丰吗", "expected": ["ship"]},
        {"query": "毛衣可以丢洗衣机烘干吗", "expected": ["wash"]},
        {"query": "退款政策文档里怎么写的", "expected": ["doc:policy"]},  # no documents: nobody can find it
        {"query": "明天北京下雨吗", "expected": []},
    ])  # fmt: skip

    code, output = run(home, "eval", str(cases), "--baseline", "--json")
    assert code == 0, output
    report = json.loads(output)
    base = report["baseline"]
    assert base["faqs"] == 3 and base["in_scope"] == 4 and base["faq_cases"] == 3
    # the three FAQ questions are each answered by one FAQ only: top 1 is right; the doc case is a miss
    assert base["recall@1_faq_cases"] == 1.0 and base["recall@1"] == 0.75 and base["recall@5"] == 0.75
    assert base["mrr"] == 0.75
    assert "answered_in_scope" not in base and "abstained_oos" not in base  # no gate, nothing to report
    # the pipeline's numbers stay where they were, plus its recall on the same FAQ cases
    assert report["n"] == 5 and report["faq_cases"] == 3 and report["recall@1_faq_cases"] == 1.0
    assert {"answered_in_scope", "abstained_oos", "recall@1", "recall@5"} <= set(report)
    assert "details" not in report  # used for the comparison, printed only with --details

    code, output = run(home, "eval", str(cases), "--baseline")
    assert code == 0, output
    assert "pipeline" in output and "baseline" in output
    line = next(ln for ln in output.splitlines() if ln.lstrip("│ ").startswith("recall@1_faq_cases"))
    assert line.count("1.000") == 2, line


def test_recall_report_counts_ranks_over_in_scope_cases_only() -> None:
    cases = [EvalCase("a", ("f1",)), EvalCase("b", ("f2", "doc:x")), EvalCase("c", ("doc:y",)),
             EvalCase("d", ("f3",)), EvalCase("e", ())]  # fmt: skip
    report = recall_report(cases, [1, 3, None, 6, None])
    assert report["in_scope"] == 4 and report["faq_cases"] == 3
    assert report["recall@1"] == 0.25 and report["recall@5"] == 0.5
    assert report["recall@1_faq_cases"] == round(1 / 3, 4) and report["recall@5_faq_cases"] == round(2 / 3, 4)
    assert report["mrr"] == round((1 + 1 / 3 + 1 / 6) / 4, 4)


def test_faq_qa_only_is_the_sample_faq_without_similar_questions() -> None:
    full = [json.loads(x) for x in (SAMPLES / "faq.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    qa = [json.loads(x) for x in (SAMPLES / "faq_qa_only.jsonl").read_text(encoding="utf-8").splitlines()
          if x.strip()]  # fmt: skip
    assert [r["id"] for r in qa] == [r["id"] for r in full]
    assert all(not r.get("similar_questions") for r in qa)
    assert any(r.get("similar_questions") for r in full)  # the variant really differs
    assert [(r["question"], r["answer"]) for r in qa] == [(r["question"], r["answer"]) for r in full]
