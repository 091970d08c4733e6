"""Content safety on agents' lines through the agent API (Starlette's test client, real SQLite): a refused line is
a 422 with the reason, not stored, not delivered, and audited; a masked one arrives with ＊; a flagged one is
delivered and audited. The app's filter comes from settings (a merchant's own word here)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database
from handoff.app import create_app

from .conftest import Clock, Customers
from .test_api import ask, login


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[tuple[TestClient, Customers, Settings]]:
    settings = load_settings(env, {"handoff": {"working_hours": "00:00-24:00", "offer_seconds": 20},
                                   "safety": {"type": "wordlist", "words": ["隔壁小卖部"]}})  # fmt: skip
    migrate.upgrade(Database.from_settings(settings).engine)
    customers = Customers()
    with TestClient(create_app(settings, customers, Clock(), run_clock=False)) as c:
        yield c, customers, settings


def test_agent_lines_are_refused_masked_or_flagged(api: tuple[TestClient, Customers, Settings]) -> None:
    c, customers, settings = api
    agent = login(c, settings, "xiaowang", {"agent"})
    other = login(c, settings, "xiaoli", {"agent"})
    c.post("/api/agent/heartbeat", headers=agent)
    ask(c, settings, "c-safe")
    sid = c.get("/api/agent/queue", headers=agent).json()["items"][0]["id"]
    assert c.post(f"/api/agent/sessions/{sid}/take", headers=agent).status_code == 200
    url = f"/api/agent/sessions/{sid}/messages"

    refused = c.post(url, headers=agent, json={"text": "您加微信刷单吧，日赚三百"})
    assert refused.status_code == 422
    assert "诈骗引流" in refused.json()["error"] and "请修改后再发" in refused.json()["error"]
    merchant_word = c.post(url, headers=agent, json={"text": "去隔壁小卖部买吧"})
    assert merchant_word.status_code == 422 and "自定义" in merchant_word.json()["error"]
    assert c.post(url, headers=other, json={"text": "加微信刷单"}).status_code == 403  # not theirs: no audit row

    masked = c.post(url, headers=agent, json={"text": "别理那个傻逼快递员，我给您补发"})
    assert masked.status_code == 200 and masked.json()["message"]["text"] == "别理那个＊＊快递员，我给您补发"
    flagged = c.post(url, headers=agent, json={"text": "加我微信吧，方便联系"})
    assert flagged.status_code == 200 and flagged.json()["message"]["text"] == "加我微信吧，方便联系"
    assert customers.texts("c-safe")[-2:] == ["别理那个＊＊快递员，我给您补发", "加我微信吧，方便联系"]
    assert not any("刷单" in t or "小卖部" in t for t in customers.texts("c-safe"))  # nothing refused was delivered

    db = Database.from_settings(settings)
    with db.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT COUNT(*) FROM cs_handoff_line WHERE session_id = :s AND sender_role = 1"),
                              {"s": int(sid)}).scalar()  # fmt: skip
        rows = conn.execute(sa.text("SELECT actor_id, actor_role, action, target_type, target_id, detail FROM "
                                    "cs_audit_log WHERE action LIKE 'safety.%' ORDER BY audit_id")).all()  # fmt: skip
    db.dispose()
    assert stored == 2  # the masked and the flagged line; the refused ones left nothing
    me = c.get("/api/auth/me", headers=agent).json()
    assert [(str(r.actor_id), r.actor_role, r.action, r.target_type, r.target_id) for r in rows] == [
        (me["id"], "agent", "safety.block", "handoff_session", str(sid)),
        (me["id"], "agent", "safety.block", "handoff_session", str(sid)),
        (me["id"], "agent", "safety.review", "handoff_session", str(sid)),
    ]
    details = [json.loads(r.detail) if isinstance(r.detail, str) else r.detail for r in rows]
    assert [d["category"] for d in details] == ["fraud", "custom", "offsite"]
    assert details[0]["text"] == "您＊＊＊＊＊吧，＊＊三百" and details[1]["rule"] == "safety.words:1"
    assert not any("刷单" in d["text"] or "小卖部" in d["text"] for d in details)
