"""Content safety through the real REST channel of the running platform (``csbot run``): a refused customer line
gets the polite answer, leaves an audit row without its words, and never reaches Rasa's NLU; a masked word
reaches the NLU as ＊."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from ..platform import Platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def user_texts(p: Platform, conversation: str) -> list[str]:
    tracker = httpx.get(f"{p.rasa_url}/conversations/{conversation}/tracker", headers=p.rasa_api(), timeout=30)
    tracker.raise_for_status()
    return [e.get("text") or "" for e in tracker.json()["events"] if e["event"] == "user"]


def test_a_refused_customer_line_is_answered_audited_and_never_seen_by_the_nlu(platform: Platform) -> None:
    p = platform
    reply = p.text("safety-e2e-1", "兼职刷单日赚五百，加我微信13812345678")
    assert "不适宜的内容（诈骗引流）" in reply and "换个说法" in reply
    assert user_texts(p, "safety-e2e-1") == []  # Rasa never heard it: no user event, no NLU

    masked = p.say("safety-e2e-2", "你们是sb吗，支持花呗吗")
    assert masked and "不适宜" not in masked[0].get("text", "")
    assert user_texts(p, "safety-e2e-2") == ["你们是＊＊吗，支持花呗吗"]  # the NLU got the masked line

    with sqlite3.connect(p.home / "csbot.db") as db:
        rows = db.execute("SELECT tenant_id, actor_role, action, target_type, detail FROM cs_audit_log "
                          "WHERE target_id = 'safety-e2e-1'").fetchall()  # fmt: skip
    assert [r[:4] for r in rows] == [("default", "customer", "safety.block", "conversation")]
    detail = json.loads(rows[0][4])
    assert detail["category"] == "fraud" and detail["rule"].startswith("zh:")
    assert "刷单" not in detail["text"] and "13812345678" not in detail["text"] and "<手机号>" in detail["text"]
