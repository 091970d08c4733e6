"""Two Rasa instances sharing a tracker store (real MariaDB or Redis) and a Redis lock store."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bot.cli.supervisor import http_ok
from bot.rasa_env import child_env, server_command
from bot.settings import load_settings

from ..conftest import REPO, free_port
from ..platform import Platform, start_platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow, pytest.mark.mariadb, pytest.mark.redis]


GREETINGS = ["你好", "在吗", "hello", "亲在吗", "有人吗", "您好", "在不在", "hi", "哈喽", "客服在吗"]


def second_rasa(p: Platform, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Another Rasa server with the same model and the endpoints file `csbot run` rendered for the first."""
    port = free_port()
    s = load_settings({**p.env, "CSBOT_SERVICES__RASA_PORT": str(port)})
    proc = subprocess.Popen(
        # the platform's own settings (channels read theirs, e.g. wechat:), then this instance's port
        server_command(s, p.home / "endpoints.yml"), cwd=REPO,
        env={**child_env(s), **{k: v for k, v in p.env.items() if k.startswith("CSBOT_")},
             "CSBOT_SERVICES__RASA_PORT": str(port)},
        stdout=(tmp / "rasa-b.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while not http_ok(url + "/"):
        assert proc.poll() is None and time.monotonic() < deadline, (tmp / "rasa-b.log").read_text()[-2000:]
        time.sleep(0.3)
    return proc, url


def say(url: str, sender: str, message: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, headers=headers,
                   timeout=60)  # fmt: skip
    r.raise_for_status()
    return "\n".join(m.get("text", "") for m in r.json())


@pytest.mark.parametrize("store", ["sql", "redis"])
def test_one_conversation_across_two_instances(store: str, mariadb_url: str, redis_db: int, tmp_path: Path) -> None:
    extra = {"CSBOT_LOCK_STORE__TYPE": "redis", "CSBOT_LOCK_STORE__URL": f"redis://127.0.0.1:6379/{redis_db}",
             "CSBOT_LOCK_STORE__KEY_PREFIX": f"t{uuid.uuid4().hex[:6]}"}  # fmt: skip
    if store == "sql":
        extra.update({"CSBOT_TRACKER_STORE__TYPE": "sql", "CSBOT_TRACKER_STORE__URL": mariadb_url})
    else:
        extra.update({"CSBOT_TRACKER_STORE__TYPE": "redis", "CSBOT_TRACKER_STORE__URL": f"redis://127.0.0.1:6379/{redis_db}",
                      "CSBOT_TRACKER_STORE__KEY_PREFIX": f"tr{uuid.uuid4().hex[:6]}"})  # fmt: skip
    a = start_platform(tmp_path, extra_env=extra)
    b_proc, b_url = second_rasa(a, tmp_path)
    try:
        s = f"shared-{uuid.uuid4().hex[:8]}"
        token = a.customer_token(s)  # a logged-in customer: returns need one
        # a form started on A continues on B and is submitted on A: the state lives in the shared store
        assert "订单号" in say(a.rasa_url, s, "我要退货", token)
        assert "退货的原因" in say(b_url, s, "250128112240093318", token)
        assert "确认" in say(a.rasa_url, s, "尺码不合适", token)
        assert "退货申请已提交" in say(b_url, s, "确认提交", token)

        # concurrent messages of one conversation on both instances: the Redis lock serialises them, none lost
        async def burst() -> list[str]:
            async with httpx.AsyncClient(timeout=60) as c:
                urls = [f"{(a.rasa_url, b_url)[i % 2]}/webhooks/rest/webhook" for i in range(10)]
                rs = await asyncio.gather(
                    *[c.post(u, json={"sender": s + "-c", "message": m}) for u, m in zip(urls, GREETINGS, strict=True)]
                )
                assert all(r.status_code == 200 for r in rs), [(r.status_code, r.text[:200]) for r in rs]
                return [r.json()[0]["text"] for r in rs]

        replies = asyncio.run(burst())
        assert len(replies) == 10 and all("帮您" in t for t in replies)
        tracker = httpx.get(f"{b_url}/conversations/{s}-c/tracker", headers=a.rasa_api()).json()
        users = [e["text"] for e in tracker["events"] if e["event"] == "user"]
        assert sorted(users) == sorted(GREETINGS)
        stamps = [e["timestamp"] for e in tracker["events"]]
        assert stamps == sorted(stamps)

        if store == "sql":
            engine = create_engine(mariadb_url)
            with engine.connect() as conn:
                kind = conn.execute(text(
                    "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                    "AND TABLE_NAME = 'events' AND COLUMN_NAME = 'timestamp'"
                )).scalar()  # fmt: skip
                ts = [r[0] for r in conn.execute(text("SELECT timestamp FROM events WHERE sender_id = :s ORDER BY id"),
                                                 {"s": s + "-c"})]  # fmt: skip
            engine.dispose()
            assert kind == "double"
            # sub-second precision survives (a 4-byte FLOAT would collapse these to a few distinct values)
            assert len(set(ts)) > len(ts) // 2
    finally:
        os.killpg(b_proc.pid, signal.SIGTERM)
        b_proc.wait(timeout=30)
        a.stop()


def test_wechats_three_tries_spread_over_two_instances_make_one_bot_turn(redis_db: int, tmp_path: Path) -> None:
    from channels.wechat import crypto, wxml

    from .test_wechat import AES, APPID, TOKEN

    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    a = start_platform(tmp_path, extra_env={
        "CSBOT_LOCK_STORE__TYPE": "redis", "CSBOT_LOCK_STORE__URL": redis_url,
        "CSBOT_LOCK_STORE__KEY_PREFIX": f"t{uuid.uuid4().hex[:6]}",
        "CSBOT_TRACKER_STORE__TYPE": "redis", "CSBOT_TRACKER_STORE__URL": redis_url,
        "CSBOT_TRACKER_STORE__KEY_PREFIX": f"tr{uuid.uuid4().hex[:6]}",
        "CSBOT_WECHAT__TOKEN": TOKEN, "CSBOT_WECHAT__APP_ID": APPID, "CSBOT_WECHAT__APP_SECRET": "s",
        "CSBOT_WECHAT__AES_KEY": AES, "CSBOT_WECHAT__MODE": "compatible",
        "CSBOT_WECHAT__API_BASE": "http://127.0.0.1:9"})  # fmt: skip
    b_proc, b_url = second_rasa(a, tmp_path)
    try:
        openid = "oTwo_" + uuid.uuid4().hex[:16]
        for n, text in enumerate(["怎么退货", "运费谁出"]):
            msg = wxml.build({"ToUserName": "gh_shop", "FromUserName": openid, "CreateTime": int(time.time()),
                              "MsgType": "text", "Content": text, "MsgId": f"{uuid.uuid4().int % 10**18}"})  # fmt: skip

            async def tries(body: str = msg) -> list[httpx.Response]:
                ts, nonce = str(int(time.time())), "7"
                params = {"timestamp": ts, "nonce": nonce, "signature": crypto.signature(TOKEN, ts, nonce)}
                async with httpx.AsyncClient(timeout=60) as c:
                    return await asyncio.gather(*(c.post(f"{u}/webhooks/wechat/webhook", params=params, content=body)
                                                  for u in (a.rasa_url, b_url, a.rasa_url)))  # fmt: skip

            answers = asyncio.run(tries())
            assert [r.status_code for r in answers] == [200, 200, 200]
            assert sum(r.text == "success" for r in answers) == 2, [r.text[:80] for r in answers]
            tracker = httpx.get(f"{b_url}/conversations/default:wx-{openid}/tracker", headers=a.rasa_api()).json()
            assert [e["text"] for e in tracker["events"] if e["event"] == "user"] == ["怎么退货", "运费谁出"][:n + 1]
    finally:
        os.killpg(b_proc.pid, signal.SIGTERM)
        b_proc.wait(timeout=30)
        a.stop()


def test_a_web_customer_on_one_instance_hears_a_line_said_through_the_other(redis_db: int, tmp_path: Path) -> None:
    """An agent's line reaches Rasa through whichever instance the balancer picked; the customer's socket sits on
    the other one. The rooms are shared through Redis (channels.socketio.shared_rooms), so the line arrives."""
    from dataclasses import replace

    from .test_handoff import WebCustomer

    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    a = start_platform(tmp_path, extra_env={
        "CSBOT_LOCK_STORE__TYPE": "redis", "CSBOT_LOCK_STORE__URL": redis_url,
        "CSBOT_LOCK_STORE__KEY_PREFIX": f"t{uuid.uuid4().hex[:6]}",
        "CSBOT_TRACKER_STORE__TYPE": "redis", "CSBOT_TRACKER_STORE__URL": redis_url,
        "CSBOT_TRACKER_STORE__KEY_PREFIX": f"tr{uuid.uuid4().hex[:6]}"})  # fmt: skip
    b_proc, b_url = second_rasa(a, tmp_path)
    try:
        web = WebCustomer(replace(a, ports={**a.ports, "rasa": int(b_url.rsplit(":", 1)[1])}))
        web.say("你好")
        web.next("bot_uttered")
        line = {"event": "bot", "text": "我是客服小林，来自另一台服务器", "metadata": {"handoff": True}}
        r = httpx.post(f"{a.rasa_url}/conversations/{web.session}/tracker/events", json=[line],
                       params={"output_channel": "latest", "execute_side_effects": "true"}, headers=a.rasa_api(),
                       timeout=60)  # fmt: skip
        assert r.status_code == 200, r.text
        assert web.next("bot_uttered", "来自另一台")["text"] == line["text"]
        web.close()
    finally:
        os.killpg(b_proc.pid, signal.SIGTERM)
        b_proc.wait(timeout=30)
        a.stop()
