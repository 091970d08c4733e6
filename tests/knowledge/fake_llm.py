"""A fake of an outside, paid service: an OpenAI-compatible chat-completions endpoint on localhost.

The model name picks the behaviour: ``fake-ok`` answers from the prompt, ``fake-slow`` sleeps past any
sane client timeout, ``fake-error`` returns HTTP 500. A judge prompt (【候选知识】) gets ``judge_reply``, which
the test sets to the verdict it wants to see handled; a similar-question prompt (【常见问题】) gets
``propose_replies[question]`` (the FAQ question as sent), else ``propose_reply``. Every request body is kept
for assertions.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.judge_reply = "1"
        self.propose_reply = "[]"
        self.propose_replies: dict[str, str] = {}
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    async def completions(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        model = body.get("model")
        if model == "fake-slow":
            await asyncio.sleep(5)
        if model == "fake-error":
            return JSONResponse({"error": {"message": "upstream exploded", "type": "server_error"}}, 500)
        user = body["messages"][-1]["content"]
        if "【候选知识】" in user:
            text = self.judge_reply
        elif user.startswith("【常见问题】"):
            question = user.removeprefix("【常见问题】").split("\n", 1)[0]
            text = self.propose_replies.get(question, self.propose_reply)
        else:
            text = "根据资料：" + user.split("【参考资料】", 1)[-1].split("\n")[1][:40]
        return JSONResponse({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        })  # fmt: skip

    @contextmanager
    def running(self) -> Iterator[FakeOpenAI]:
        app = Starlette(routes=[Route("/v1/chat/completions", self.completions, methods=["POST"])])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        try:
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=10)
