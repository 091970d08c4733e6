"""WeChat channel benchmark (not a test): C concurrent 公众号 users, each sending messages one after another,
signed (and encrypted in safe mode) as WeChat sends them; the time to the passive reply, which WeChat cuts
off at 5 s. Prints JSON.

    python -m bench.wechat_bench [--users 20] [--messages 10] [--safe]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.machine import cpu  # noqa: E402
from channels.wechat import crypto, wxml  # noqa: E402
from tests.platform import start_platform  # noqa: E402

TOKEN, AES, APPID = "bench-token", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wxbench0000000000"
MESSAGES = ["在吗", "怎么退货", "运费谁出", "多久发货", "可以开发票吗", "谢谢", "你好", "退款多久到账"]


def request(openid: str, text: str, safe: bool) -> tuple[dict[str, str], bytes]:
    ts, nonce = str(int(time.time())), str(random.randrange(10**9))
    xml = wxml.build({"ToUserName": "gh_bench", "FromUserName": openid, "CreateTime": int(ts), "MsgType": "text",
                      "Content": text, "MsgId": str(uuid.uuid4().int % 10**18)})  # fmt: skip
    params = {"timestamp": ts, "nonce": nonce, "signature": crypto.signature(TOKEN, ts, nonce)}
    if safe:
        cipher = crypto.encrypt(xml, crypto.aes_key(AES), APPID)
        params |= {"encrypt_type": "aes", "msg_signature": crypto.signature(TOKEN, ts, nonce, cipher)}
        xml = wxml.build({"ToUserName": "gh_bench", "Encrypt": cipher})
    return params, xml.encode()


async def user(client: httpx.AsyncClient, url: str, n: int, safe: bool, times: list[float], empty: list[int]) -> None:
    openid = "oBench_" + uuid.uuid4().hex[:16]
    for _ in range(n):
        params, body = request(openid, random.choice(MESSAGES), safe)
        started = time.perf_counter()
        r = await client.post(url, params=params, content=body)
        times.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200 or r.text == "success":
            empty.append(1)  # no passive reply: the answer went (or would go) through 客服消息


async def run(base: str, users: int, n: int, safe: bool) -> dict[str, object]:
    times: list[float] = []
    empty: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(user(client, f"{base}/webhooks/wechat/webhook", n, safe, times, empty)
                               for _ in range(users)))  # fmt: skip
        wall = time.perf_counter() - started
    p = {q: round(float(np.percentile(times, q)), 1) for q in (50, 95, 99)}
    return {"users": users, "messages": len(times), "safe_mode": safe, "per_s": round(len(times) / wall, 1),
            "passive_ms": p, "max_ms": round(max(times), 1), "not_passive": len(empty)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--messages", type=int, default=10)
    ap.add_argument("--safe", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        p = start_platform(Path(tmp), extra_env={
            "CSBOT_WECHAT__TOKEN": TOKEN, "CSBOT_WECHAT__APP_ID": APPID, "CSBOT_WECHAT__APP_SECRET": "x",
            "CSBOT_WECHAT__AES_KEY": AES, "CSBOT_WECHAT__MODE": "compatible",
            "CSBOT_WECHAT__API_BASE": "http://127.0.0.1:9"})  # fmt: skip
        try:
            out = asyncio.run(run(p.rasa_url, args.users, args.messages, args.safe))
        finally:
            p.stop()
    print(json.dumps({"cpu": {k: v for k, v in cpu().items() if k != "flags"}, **out}, ensure_ascii=False))


if __name__ == "__main__":
    main()
