"""The windowed SQL tracker store: long conversations keep their state while Rasa loads only recent turns."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import httpx
import pytest

from bot.crypto import cipher_from_settings
from bot.settings import load_settings
from bot.storage.sealed import TRACKER_EVENTS

from ..platform import start_platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def test_state_survives_the_window_and_history_is_complete(tmp_path: Path) -> None:
    p = start_platform(tmp_path, extra_env={"CSBOT_TRACKER_STORE__WINDOW_TURNS": "4"})
    try:
        who = f"long-{uuid.uuid4().hex[:8]}"
        s = f"default:{who}"  # a logged-in customer's conversation id comes from the shop's token
        sent = ["你好", "订单250316084512367890发货了吗"]  # sets the order_id slot early
        for m in sent:
            p.text(who, m, customer=who)
        chatter = ["谢谢", "好的", "嗯嗯", "在吗", "好的", "谢谢", "嗯嗯"]
        for m in chatter:  # push the order message far outside the 4-turn window
            p.text(who, m, customer=who)
        sent += chatter
        # the slot set 9 turns ago is still known: logistics without repeating the order number
        reply = p.text(who, "物流到哪了", customer=who)
        sent.append("物流到哪了")
        assert "SF1402837746512" in reply and "250316084512367890" in reply

        # a form that starts inside the window and crosses its boundary keeps going
        assert "收货地址" in p.text(who, "帮我改下收货地址", customer=who)  # order_id known: asks for the new address
        sent.append("帮我改下收货地址")
        for m in ["嗯", "好的", "等下"]:  # not addresses: the form re-asks and stays active past the boundary
            assert "地址" in p.text(who, m, customer=who)
            sent.append(m)
        confirm = p.text(who, "浙江省杭州市余杭区五常大道 181 号", customer=who)
        sent.append("浙江省杭州市余杭区五常大道 181 号")
        assert "确认" in confirm and "五常大道" in confirm
        final = p.text(who, "确认修改", customer=who)
        sent.append("确认修改")
        assert "改不了地址" in final  # the demo order has shipped: the form submitted and the shop refused

        db = p.home / "rasa_trackers.db"
        cipher = cipher_from_settings(load_settings(p.env))  # the events are sealed at rest
        with sqlite3.connect(db) as conn:
            sealed = [r[0] for r in conn.execute(
                "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (s,))]  # fmt: skip
            users = [json.loads(TRACKER_EVENTS.open(cipher, d, {"sender_id": s}))["text"] for d in sealed]
            stamps = [r[0] for r in conn.execute("SELECT timestamp FROM events WHERE sender_id = ? ORDER BY id", (s,))]
        assert users == sent  # every message stored once, in order; no synthetic events written back
        # the snapshot events are stamped just before the window start: written back, they would break the order
        assert stamps == sorted(stamps)
        full = httpx.get(f"{p.rasa_url}/conversations/{s}/tracker", headers=p.rasa_api()).json()
        assert [e["text"] for e in full["events"] if e["event"] == "user"] == sent
    finally:
        p.stop()
