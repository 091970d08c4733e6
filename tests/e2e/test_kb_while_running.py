"""`csbot kb` while `csbot run` holds the embedded stores: the commands go through the running service."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from .. import kb_decisions as kbq
from ..platform import CSBOT, Platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def kb(platform: Platform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CSBOT, "kb", *args], env=platform.env, capture_output=True, text=True, timeout=300)


def test_import_eval_and_ask_go_through_the_running_knowledge_service(platform: Platform, tmp_path: Path) -> None:
    faq = tmp_path / "gift.jsonl"
    faq.write_text(json.dumps({"id": "faq-gift-wrap", "question": "可以帮忙礼品包装吗？",
                               "similar_questions": ["能包成礼物吗", "送人的能包装一下不"],
                               "answer": "可以的，下单时备注「礼品包装」，我们免费用礼盒包装并附贺卡。"},
                              ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    bad = tmp_path / "notes.exe"
    bad.write_bytes(b"MZ\x00\x00")
    done = kb(platform, "import", str(faq), str(bad), "--json")
    assert done.returncode == 2, done.stderr  # one file failed, the other landed
    assert "through its knowledge service" in done.stderr
    report = json.loads(done.stdout)
    by_name = {Path(f["path"]).name: f for f in report["files"]}
    assert by_name["gift.jsonl"]["status"] == "ok" and by_name["gift.jsonl"]["added"] == 1
    assert by_name["notes.exe"]["status"] == "error" and "notes.exe" in by_name["notes.exe"]["error"]

    # the running bot answers from the new FAQ at once, without a restart
    reply = platform.text(f"u-{uuid.uuid4().hex[:8]}", "送朋友的 能帮我包成礼物吗")
    assert "礼盒包装" in reply

    asked = kb(platform, "ask", "能包装成礼物不")
    assert asked.returncode == 0 and json.loads(asked.stdout)["citations"][0]["id"] == "faq-gift-wrap"

    cases = tmp_path / "q.jsonl"
    cases.write_text('{"query": "送人的能包装一下吗", "expected": ["faq-gift-wrap"]}\n'
                     '{"query": "明天会下雨吗", "expected": []}\n', encoding="utf-8")  # fmt: skip
    evald = kb(platform, "eval", str(cases), "--json")
    assert evald.returncode == 0, evald.stderr
    result = json.loads(evald.stdout)
    assert result["n"] == 2 and result["recall@1"] == 1.0 and result["abstained_oos"] == 1.0

    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n", encoding="utf-8")
    failed = kb(platform, "eval", str(broken))
    assert failed.returncode == 1 and "line 1" in failed.stderr and "Traceback" not in failed.stderr


def test_versions_are_managed_through_the_running_service(platform: Platform) -> None:
    status = kb(platform, "status", "--json")
    assert status.returncode == 0, status.stderr
    versions = json.loads(status.stdout)
    live = next(v for v in versions if v["status"] == "live")
    assert live["vectors"] > 0 and "error" not in live  # counted by the service that holds the stores

    built = kb(platform, "rebuild", "--note", "e2e")
    assert built.returncode == 0 and "status ready" in built.stdout, built.stderr
    new = next(v["name"] for v in json.loads(kb(platform, "status", "--json").stdout) if v["status"] == "ready")
    assert kb(platform, "switch", new).returncode == 0
    reply = platform.text(f"u-{uuid.uuid4().hex[:8]}", kbq.ANSWERED_POLICY[4])
    assert "参考" in reply  # the bot answers from the new version
    back = kb(platform, "rollback")
    assert back.returncode == 0 and live["name"] in back.stdout
    assert kb(platform, "switch", "v999").returncode == 1
