"""Two handoff instances on one MariaDB and one Redis: a customer queued on one reaches an agent whose
WebSocket is held by the other at once (a Redis wake-up, not the 30 s safety poll)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from starlette.testclient import TestClient

from bot.security import Principal, issue_token, service_token
from bot.settings import load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService
from handoff.app import create_app

from .conftest import Customers

pytestmark = [pytest.mark.mariadb, pytest.mark.redis]


def test_a_change_on_one_instance_wakes_a_socket_on_the_other(env: dict[str, str], mariadb_url: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    settings = load_settings(env, {"database": {"url": mariadb_url},
                                   "presence": {"type": "redis", "url": "redis://127.0.0.1:6379/0",
                                                "key_prefix": prefix},
                                   "handoff": {"working_hours": "00:00-24:00"}})  # fmt: skip
    migrate.upgrade(Database.from_settings(settings).engine)
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
