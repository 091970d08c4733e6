"""Rasa's stored events are sealed at rest by our tracker store, run for real in the Rasa venv (Python 3.10,
SQLAlchemy 1.4) on SQLite and on the machine's MariaDB: the events table and the outbox hold enc:v1 text, Rasa
reads the conversation back (window and full history), and rows from before sealing still read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.crypto import cipher_from_settings, new_key
from bot.events.envelope import parse
from bot.rasa_env import prepare_tracker_store, tracker_store_config, tracker_store_url
from bot.settings import Settings, load_settings
from bot.storage.sealed import OUTBOX

REPO = Path(__file__).resolve().parents[2]
RASA_PY = REPO / ".venv-rasa" / "bin" / "python"
PHONE = "13812345678"
ADDRESS = "浙江省杭州市余杭区五常大道181号"


def probe(settings: Settings, env: dict[str, str], sender: str, lines: list[str], slot: str | None = None) -> dict:
    args = {"store": tracker_store_config(settings), "sender": sender, "lines": lines, "slot": slot}
    out = subprocess.run([str(RASA_PY), str(REPO / "tests/channels/rasa_tracker_probe.py"), json.dumps(args)],
                         env={**env, "PYTHONPATH": str(REPO)}, cwd=REPO, capture_output=True, text=True,
                         timeout=180)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(params=["sqlite", "mariadb"])
def store_env(request: pytest.FixtureRequest, env: dict[str, str]) -> dict[str, str]:
    env = {**env, "CSBOT_IDS__WORKER_ID": "3"}
    if request.param == "mariadb":
        env["CSBOT_TRACKER_STORE__URL"] = request.getfixturevalue("mariadb_url")
    return env


def engine_of(settings: Settings) -> sa.engine.Engine:
    return sa.create_engine(tracker_store_url(settings) or f"sqlite:///{settings.home / 'rasa_trackers.db'}")


def test_events_and_outbox_rows_are_sealed_and_read_back(store_env: dict[str, str]) -> None:
    settings = load_settings(store_env)
    prepare_tracker_store(settings)  # what `csbot setup` does on MySQL/MariaDB
    sender = "default:u42"
    got = probe(settings, store_env, sender, [f"我的手机{PHONE}", f"改地址到{ADDRESS}"], slot=PHONE)
    assert got["type"] == "WindowedSQLTrackerStore"
    assert got["users"] == got["full_users"] == [f"我的手机{PHONE}", f"改地址到{ADDRESS}"]
    assert got["slot"] == PHONE

    engine = engine_of(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT type_name, intent_name, action_name, data FROM events "
                                        "WHERE sender_id = :s ORDER BY id"), {"s": sender}).all()  # fmt: skip
            outbox = conn.execute(sa.text("SELECT tenant_id, event_id, body FROM cs_outbox ORDER BY seq")).all()
        assert [r.type_name for r in rows if r.type_name == "user"] == ["user", "user"]
        assert {r.intent_name for r in rows if r.type_name == "user"} == {"inform"}  # Rasa queries these: plain
        for r in rows:
            assert r.data.startswith("enc:v1:h1:") and PHONE not in r.data and "五常" not in r.data
        assert len(outbox) == 4 and all(r.body.startswith("enc:v1:h1:") and PHONE not in r.body for r in outbox)
        cipher = cipher_from_settings(settings)  # what the archive's stream reader opens them with
        lines = [parse(OUTBOX.open(cipher, r.body, r._mapping)).data for r in outbox]
        assert [x["text"] for x in lines if x["role"] == "customer"] == [f"我的手机{PHONE}", f"改地址到{ADDRESS}"]

        # a row an earlier version wrote plain (Rasa's own json.dumps) is read with the sealed ones
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO events (sender_id, type_name, timestamp, intent_name, data) "
                                 "VALUES (:s, 'user', 1500.0, 'inform', :d)"),
                         {"s": sender, "d": json.dumps({"event": "user", "timestamp": 1500.0, "text": "升级前的话",
                                                        "parse_data": {"intent": {"name": "inform"}}})})  # fmt: skip
    finally:
        engine.dispose()
    again = probe(settings, store_env, sender, [])
    assert again["users"] == [f"我的手机{PHONE}", f"改地址到{ADDRESS}", "升级前的话"]


def test_a_conversation_under_a_removed_key_loses_those_events_not_the_turn(env: dict[str, str]) -> None:
    k1, k2 = new_key(), new_key()
    store_env = {**env, "CSBOT_IDS__WORKER_ID": "3"}
    first = {**store_env, "CSBOT_ENCRYPTION__KEY_ID": "k1", "CSBOT_ENCRYPTION__KEYS__K1": k1}
    settings = load_settings(first)
    prepare_tracker_store(settings)
    probe(settings, first, "default:u7", ["第一句"])
    # k1 removed without `csbot keys rotate`: its events are left out (logged), new ones are sealed under k2
    second = {**store_env, "CSBOT_ENCRYPTION__KEY_ID": "k2", "CSBOT_ENCRYPTION__KEYS__K2": k2,
              "CSBOT_ENCRYPTION__DERIVED_KEY": "false"}
    got = probe(load_settings(second), second, "default:u7", ["第二句"])
    assert got["users"] == ["第二句"]


@pytest.mark.redis
def test_the_redis_tracker_store_seals_each_conversation(env: dict[str, str], redis_db: int) -> None:
    import redis

    store_env = {**env, "CSBOT_IDS__WORKER_ID": "3", "CSBOT_TRACKER_STORE__TYPE": "redis",
                 "CSBOT_TRACKER_STORE__URL": f"redis://127.0.0.1:6379/{redis_db}"}  # fmt: skip
    got = probe(load_settings(store_env), store_env, "default:u9", [f"手机{PHONE}", "第二句"], slot=PHONE)
    assert got["type"] == "SealedRedisTrackerStore"
    assert got["users"] == [f"手机{PHONE}", "第二句"] and got["slot"] == PHONE
    client = redis.Redis(host="127.0.0.1", port=6379, db=redis_db, decode_responses=True)
    try:
        value = client.get("csbot:tracker:default:u9")
        assert value is not None and value.startswith("enc:v1:h1:") and PHONE not in value
    finally:
        client.close()
