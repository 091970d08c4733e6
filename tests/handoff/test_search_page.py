"""The inbox's message search page in a real browser (Playwright driving Debian's Chromium) against the handoff
service alone (uvicorn on a free port, real SQLite and tantivy): log in on the inbox, open 消息搜索, find a
line, open its conversation. Markup in a customer's line stays text."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from bot.settings import load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService
from handoff.app import create_app
from handoff.search import create_message_index

from ..conftest import free_port
from .conftest import Clock, Customers
from .test_search_api import T0, Desk

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
XSS = '<img src=x onerror="window.__pwned=1">'


@pytest.fixture
def site(env: dict[str, str]) -> Iterator[tuple[str, Desk]]:
    settings = load_settings(env, {"message_search": {"reload_seconds": 0}})
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    UserService(db).create("default", "boss", "主管", {"supervisor"}, "password-123")
    index = create_message_index(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, Customers(), Clock(), run_clock=False),
                                           host="127.0.0.1", port=port, log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the handoff service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", Desk(None, settings, db, index)  # type: ignore[arg-type]
    server.should_exit = True
    thread.join(timeout=10)
    index.close()
    db.dispose()


def test_find_a_line_and_open_its_conversation(site: tuple[str, Desk]) -> None:
    from playwright.sync_api import sync_playwright

    base, desk = site
    desk.archive(11, "c1", "customer", "你好，我的订单还没发货", T0)
    desk.archive(12, "c1", "customer", f"我要退款，电话13812345678 {XSS}", T0 + 5)
    desk.archive(13, "c1", "bot", "已为您转人工客服", T0 + 6)
    desk.archive(21, "c2", "customer", "快递到哪了", T0 + 60)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/inbox")
        page.fill("#login-name", "boss")
        page.fill("#login-password", "password-123")
        page.click("#login-form button[type=submit]")
        page.wait_for_selector("#desk:not([hidden])")
        page.click("#open-search")
        page.wait_for_selector("#search-desk:not([hidden])")
        page.fill("#q", "退款")
        page.click("#search-go")
        page.wait_for_selector("#hits li")
        assert page.text_content("#summary") == "共 1 条"
        hit = page.locator("#hits li").first
        assert hit.locator("mark").first.text_content() == "退款"
        snippet = hit.locator(".snippet").text_content() or ""
        assert "<手机号>" in snippet and "13812345678" not in snippet and XSS in snippet  # markup shown as text
        hit.click()
        page.wait_for_selector("#archive-lines li.found")
        lines = page.locator("#archive-lines li .bubble").all_text_contents()
        assert lines[0] == "你好，我的订单还没发货" and lines[2] == "已为您转人工客服" and len(lines) == 3
        assert "13812345678" in (page.text_content("#archive-lines li.found .bubble") or "")  # the original
        assert page.evaluate("window.__pwned") is None
        page.fill("#q", "")
        page.fill("#customer", "nobody")
        page.click("#search-go")
        _until(page, "document.getElementById('summary').textContent.indexOf('没有找到') >= 0")
        browser.close()


def _until(page: object, expression: str, timeout: float = 10) -> None:
    """Poll from here: the page's CSP forbids the eval behind wait_for_function's own polling."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)
