"""WeChat channel benchmark (not a test): C concurrent 公众号 users, each sending messages one after another,
signed (and encrypted in safe mode) as WeChat sends them; the time to the passive reply, which WeChat cuts
off at 5 s. Prints JSON.

    python -m bench.wechat_bench [--users 20] [--messages 10] [--safe] [--async-replies]

``--async-replies``: replies miss the passive window on purpose (``wechat.passive_seconds`` 0.01; a greeting
the bot answers in under 10 ms still goes back passively and is not counted), so they go through 客服消息 to a
local fake of WeChat's API; the time is from the POST to the fake receiving the line.
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


class Arrivals:
    """What the fake WeChat API received, per openid, with this process's clock."""

    def __init__(self) -> None:
        self.by_user: dict[str, asyncio.Queue[float]] = {}

    def queue(self, openid: str) -> asyncio.Queue[float]:
        return self.by_user.setdefault(openid, asyncio.Queue())


async def user(client: httpx.AsyncClient, url: str, n: int, safe: bool, times: list[float], empty: list[int],
               arrivals: Arrivals | None) -> None:  # fmt: skip
    openid = "oBench_" + uuid.uuid4().hex[:16]
    for _ in range(n):
        params, body = request(openid, random.choice(MESSAGES), safe)
        started = time.perf_counter()
        r = await client.post(url, params=params, content=body)
        if arrivals is not None and r.text == "success":  # the reply goes through 客服消息: wait for the fake
            try:
                times.append((await asyncio.wait_for(arrivals.queue(openid).get(), 15) - started) * 1000)
            except asyncio.TimeoutError:
                empty.append(1)
            continue
        if arrivals is not None:
            continue  # a turn done within even the tiny window still answers passively; not what is timed here
        times.append((time.perf_counter() - started) * 1000)
        if r.status_code != 200 or r.text == "success":
            empty.append(1)  # no passive reply: the answer went (or would go) through 客服消息


async def fake_wechat(arrivals: Arrivals) -> tuple[str, asyncio.Task[None]]:
    """WeChat's API faked on loopback (an outside service): a stable token, and 客服消息 timestamped on arrival."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def token(_: Request) -> JSONResponse:
        return JSONResponse({"access_token": "bench-token", "expires_in": 7200})

    async def send(request: Request) -> JSONResponse:
        at = time.perf_counter()
        arrivals.queue((await request.json())["touser"]).put_nowait(at)
        return JSONResponse({"errcode": 0})

    app = Starlette(routes=[Route("/cgi-bin/stable_token", token, methods=["POST"]),
                            Route("/cgi-bin/message/custom/send", send, methods=["POST"])])  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    return f"http://127.0.0.1:{port}", task


async def run(base: str, users: int, n: int, safe: bool, arrivals: Arrivals | None) -> dict[str, object]:
    times: list[float] = []
    empty: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(user(client, f"{base}/webhooks/wechat/webhook", n, safe, times, empty, arrivals)
                               for _ in range(users)))  # fmt: skip
        wall = time.perf_counter() - started
    p = {q: round(float(np.percentile(times, q)), 1) for q in (50, 95, 99)}
    what = "async_reply_ms" if arrivals else "passive_ms"
    return {"users": users, "messages": len(times), "safe_mode": safe, "per_s": round(len(times) / wall, 1),
            what: p, "max_ms": round(max(times), 1), ("lost" if arrivals else "not_passive"): len(empty)}  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    arrivals = Arrivals() if args.async_replies else None
    api, server = await fake_wechat(arrivals) if arrivals else ("http://127.0.0.1:9", None)
    with tempfile.TemporaryDirectory() as tmp:
        env = {"CSBOT_WECHAT__TOKEN": TOKEN, "CSBOT_WECHAT__APP_ID": APPID, "CSBOT_WECHAT__APP_SECRET": "x",
               "CSBOT_WECHAT__AES_KEY": AES, "CSBOT_WECHAT__MODE": "compatible", "CSBOT_WECHAT__API_BASE": api}
        if arrivals:
            env["CSBOT_WECHAT__PASSIVE_SECONDS"] = "0.01"
        p = await asyncio.to_thread(start_platform, Path(tmp), env)
        try:
            return await run(p.rasa_url, args.users, args.messages, args.safe, arrivals)
        finally:
            p.stop()
            if server is not None:
                server.cancel()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--messages", type=int, default=10)
    ap.add_argument("--safe", action="store_true")
    ap.add_argument("--async-replies", action="store_true", help="every reply through 客服消息 (a fake WeChat API)")
    args = ap.parse_args()
    out = asyncio.run(main_async(args))
    print(json.dumps({"cpu": {k: v for k, v in cpu().items() if k != "flags"}, **out}, ensure_ascii=False))


if __name__ == "__main__":
    main()
