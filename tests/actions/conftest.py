from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from actions import common
from bot.identity import METADATA_KEY, Customer, anonymous, seal, seal_secret
from bot.orders.demo_server import create_app

from ..conftest import free_port


@contextmanager
def serve_in_thread(app: Any, ready_seconds: float = 10.0) -> Iterator[str]:
    """An ASGI app served over real HTTP on a free port (uvicorn in a thread); yields its URL once healthy."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def demo_shop() -> Iterator[str]:
    """The demo order API served over real HTTP on a free port."""
    with serve_in_thread(create_app()) as url:
        yield url


def sealed(customer: str | None, conversation: str, seconds: int = 600) -> dict[str, Any]:
    """Message metadata as the REST channel writes it for a customer it verified (None: anonymous)."""
    who = Customer("default", customer, "shop_jwt") if customer else anonymous("default")
    return {METADATA_KEY: seal(who, conversation, seal_secret(common.settings()), seconds)}
