"""``csbot kb`` commands on a fresh CSBOT_HOME (migrations run by the commands themselves)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from typer.testing import CliRunner

from knowledge.cli import app
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl


def run(home: Path, *args: str, extra: dict[str, str] | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env["CSBOT_HOME"] = str(home)
    env.update(extra or {})
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout


def test_import_eval_status_lowconf_on_a_fresh_home(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    kb = write_jsonl(tmp_path / "kb.jsonl", SMALL_FAQ)
    code, output = run(home, "import", str(kb), "--json")
    assert code == 0, output
    report = json.loads(output)
    assert report["failed"] == 0 and report["files"][0]["added"] == 3

    q = write_jsonl(tmp_path / "q.jsonl", [
        {"query": "退货怎么弄", "expected": ["q1"]},
        {"query": "付款后多久发货", "expected": ["q2"]},
        {"query": "今天股票涨了吗", "expected": []},
    ])  # fmt: skip
    code, output = run(home, "eval", str(q), "--json")
    assert code == 0, output
    metrics = json.loads(output)
    assert set(metrics) >= {"n", "recall@1", "recall@5", "mrr", "answered_in_scope", "abstained_oos", "p50_ms",
                            "p99_ms"}  # fmt: skip
    assert metrics["n"] == 3 and metrics["recall@1"] == 1.0 and metrics["abstained_oos"] == 1.0

    code, output = run(home, "status", "--json")
    assert code == 0 and json.loads(output)[0]["status"] == "live"

    code, output = run(home, "ask", "今天股票涨了吗")
    assert code == 0 and json.loads(output)["abstained"] is True
    code, output = run(home, "lowconf")
    assert code == 0 and "股票" in output

    # a bad file in the batch: exit code 2, the good file still imported
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "无答案"}\n', encoding="utf-8")
    code, output = run(home, "import", str(bad), str(kb), "--tenant", "t2", "--json")
    report = json.loads(output)
    assert code == 2 and report["failed"] == 1 and report["files"][1]["added"] == 3


def test_rebuild_switch_rollback_commands(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    assert run(home, "import", str(write_jsonl(tmp_path / "kb.jsonl", SMALL_FAQ[:1])))[0] == 0
    code, output = run(home, "rebuild")
    assert code == 0 and "v2" in output
    assert run(home, "switch", "v2")[0] == 0
    code, output = run(home, "rollback")
    assert code == 0 and "v1" in output
    code, output = run(home, "switch", "v7")
    assert code == 1


def test_import_while_another_process_holds_milvus_lite_says_what_to_do(tmp_path: Path) -> None:
    # every step in its own process, as in real use (milvus-lite locks per process)
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env["CSBOT_HOME"] = str(tmp_path / "busy")

    def kb_import(path: Path) -> tuple[int, dict]:
        proc = subprocess.run([sys.executable, "-m", "bot.cli.main", "kb", "import", str(path), "--json"], env=env,
                              cwd=repo, capture_output=True, text=True, timeout=120)  # fmt: skip
        return proc.returncode, json.loads(proc.stdout)

    assert kb_import(write_jsonl(tmp_path / "kb.jsonl", SMALL_FAQ))[0] == 0
    holder = subprocess.Popen(  # stands for the running knowledge service
        [sys.executable, "-c", "from knowledge.service import KnowledgeService; from bot.settings import "
         "load_settings; import time; s = KnowledgeService.from_settings(load_settings()); "
         "s.answer('退货怎么弄'); print('ready', flush=True); time.sleep(60)"],
        env=env, stdout=subprocess.PIPE, text=True, cwd=repo,
    )  # fmt: skip
    more = write_jsonl(tmp_path / "more.jsonl", [{"id": "q9", "question": "能开发票吗", "answer": "可以。"}])
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        code, report = kb_import(more)
        assert code != 0 and report["failed"] == 1
        assert "open in another process" in report["files"][0]["error"] and "/api/kb" in report["files"][0]["error"]
    finally:
        holder.kill()
        holder.wait(timeout=10)
    code, report = kb_import(more)  # nothing was half-written: it imports once the store is free
    assert code == 0 and report["files"][0]["added"] == 1


def test_lowconf_faq_draft_round_trip(tmp_path: Path) -> None:
    """Active learning: unsure questions become proposed similar questions, reviewed, imported back."""
    home = tmp_path / "fresh"
    assert run(home, "import", str(write_jsonl(tmp_path / "kb.jsonl", SMALL_FAQ)))[0] == 0
    # strict thresholds so that a clumsy paraphrase is recorded as low confidence
    strict = {"CSBOT_KNOWLEDGE__GATE_THRESHOLD": "0.999999", "CSBOT_KNOWLEDGE__SURE_THRESHOLD": "1.0"}
    code, output = run(home, "ask", "东西不想要了 退回去咋操作", extra=strict)
    assert code == 0 and json.loads(output)["abstained"] is True
    draft = tmp_path / "draft.jsonl"
    code, _ = run(home, "lowconf", "--format", "faq-draft", "-o", str(draft))
    assert code == 0
    lines = [json.loads(x) for x in draft.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == ["q1"] and lines[0]["review_added"] == ["东西不想要了 退回去咋操作"]
    assert lines[0]["answer"] == SMALL_FAQ[0]["answer"]
    code, output = run(home, "import", str(draft), "--json")  # the reviewer kept it: import it back
    assert code == 0 and json.loads(output)["files"][0]["updated"] == 1
    code, output = run(home, "ask", "东西不想要了 退回去咋操作")
    assert json.loads(output)["abstained"] is False and json.loads(output)["citations"][0]["id"] == "q1"
    assert run(home, "lowconf", "--format", "xml")[0] == 1
