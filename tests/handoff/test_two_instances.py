"""Two handoff instances on one MariaDB and one Redis: a customer queued on one reaches an agent whose
WebSocket is held by the other at once (a Redis wake-up, not the 30 s safety poll)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from starlette.testclient import TestClient

from bot.security import Principal, issue_token, service_token
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService
from handoff.app import create_app

from .conftest import Customers

pytestmark = [pytest.mark.mariadb, pytest.mark.redis]


def shared(env: dict[str, str], mariadb_url: str, prefix: str) -> Settings:
    """Settings of several instances sharing one MariaDB and one Redis (migrated)."""
    settings = load_settings(env, {"database": {"url": mariadb_url},
                                   "presence": {"type": "redis", "url": "redis://127.0.0.1:6379/0",
                                                "key_prefix": prefix},
                                   "handoff": {"working_hours": "00:00-24:00"}})  # fmt: skip
    migrate.upgrade(Database.from_settings(settings).engine)
    return settings


def test_a_change_on_one_instance_wakes_a_socket_on_the_other(env: dict[str, str], mariadb_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = shared(env, mariadb_url, prefix)
    agent = UserService(Database.from_settings(settings)).create("default", "x", "客服X", {"agent"}, "password-123")
    token = issue_token(settings.keyring, Principal(agent.user_id, "default", frozenset({"agent"}), "客服X"), 600)
    svc_h = {"Authorization": f"Bearer {service_token(settings.keyring, 'default', 't', 600)}"}
    with TestClient(create_app(settings, Customers(), run_clock=False)) as a, \
            TestClient(create_app(settings, Customers(), run_clock=False)) as b:  # fmt: skip
        assert b.post("/api/agent/heartbeat", headers={"Authorization": f"Bearer {token}"}).status_code == 204
        with b.websocket_connect(f"/api/agent/ws?token={token}") as ws:
            time.sleep(0.3)  # the socket's first look at its feed, and B's subscription, are done
            t0 = time.monotonic()
            r = a.post("/internal/handoff", headers=svc_h, json={
                "conversation_id": "two-1", "channel": "rest", "customer": {"id": "two-1"}})  # fmt: skip
            assert r.status_code == 200 and r.json()["position"] == 1
            offer = json.loads(ws.receive_text())
            assert offer["kind"] == "offer" and time.monotonic() - t0 < 2.0
    import redis

    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in r.scan_iter(f"{prefix}:*"):
        r.delete(key)


def test_an_instance_killed_mid_chat_loses_nothing(env: dict[str, str], mariadb_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = shared(env, mariadb_url, prefix)
    agent = UserService(Database.from_settings(settings)).create("default", "y", "客服Y", {"agent"}, "password-123")
    token = issue_token(settings.keyring, Principal(agent.user_id, "default", frozenset({"agent"}), "客服Y"), 600)
    h = {"Authorization": f"Bearer {token}"}
    svc_h = {"Authorization": f"Bearer {service_token(settings.keyring, 'default', 't', 600)}"}
    seen: list[dict] = []
    with TestClient(create_app(settings, Customers(), run_clock=False)) as b:
        a = TestClient(create_app(settings, Customers(), run_clock=False))
        a.__enter__()
        a.post("/api/agent/heartbeat", headers=h)
        with a.websocket_connect(f"/api/agent/ws?token={token}") as ws:
            a.post("/internal/handoff", headers=svc_h, json={"conversation_id": "kill-1", "channel": "rest",
                                                              "customer": {"id": "kill-1"}})  # fmt: skip
            offer = json.loads(ws.receive_text())
            seen.append(offer)
            assert a.post(f"/api/agent/offers/{offer['offer_id']}/accept", headers=h).status_code == 200
            seen.append(json.loads(ws.receive_text()))
        a.__exit__(None, None, None)  # instance A is gone mid-chat
        # the customer keeps writing (the broker reaches B), the agent reconnects to B from where they were
        for line in ("还在吗", "订单号250316084512367890"):
            r = b.post("/internal/events", headers=svc_h, json={"events": [
                {"conversation_id": "kill-1", "text": line, "intent": "inform"}]})  # fmt: skip
            assert r.json() == {"relayed": 1}
        with b.websocket_connect(f"/api/agent/ws?token={token}&cursor={seen[-1]['seq']}") as ws:
            got = [json.loads(ws.receive_text()) for _ in range(2)]
        assert [g["message"]["text"] for g in got] == ["还在吗", "订单号250316084512367890"]
        sid = offer["session"]["id"]
        assert b.post(f"/api/agent/sessions/{sid}/messages", headers=h, json={"text": "在的"}).status_code == 200
    import redis

    r = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in r.scan_iter(f"{prefix}:*"):
        r.delete(key)


def test_the_database_away_is_a_503_not_a_traceback(env: dict[str, str]) -> None:
    settings = load_settings(env, {"database": {"url": "mysql+pymysql://root@127.0.0.1:1/none"},
                                   "handoff": {"working_hours": "00:00-24:00"}})  # fmt: skip
    svc_h = {"Authorization": f"Bearer {service_token(settings.keyring, 'default', 't', 600)}"}
    with TestClient(create_app(settings, Customers(), run_clock=False)) as c:
        r = c.post("/internal/handoff", headers=svc_h, json={"conversation_id": "x", "channel": "rest",
                                                              "customer": {"id": "x"}})  # fmt: skip
        assert r.status_code == 503 and r.headers["retry-after"] and "Traceback" not in r.text
        assert c.get("/health").status_code == 503
