"""The 工单 page in a real browser (Playwright driving Debian's Chromium) against the real handoff app served by
uvicorn on SQLite (no Rasa needed: a recorder stands where customers would read their lines). An agent logs in
at the inbox, follows its 工单 link, sees a ticket with its SLA counting down, opens it, reads the transcript,
adds a note, starts and resolves it; the customer is told; markup in a title stays text."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bot.settings import load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService

from ...conftest import free_port
from ...e2e.test_pages import ARGS, CHROMIUM, XSS, log_in, shot, until
from ..conftest import Customers

pytestmark = pytest.mark.slow


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[tuple[str, Customers, Any]]:
    import uvicorn

    from handoff.app import create_app

    settings = load_settings(env, {"handoff": {"working_hours": "00:00-24:00"}})
    migrate.upgrade(Database.from_settings(settings).engine)
    UserService(Database.from_settings(settings)).create("default", "xiaowang", "小王", {"agent"}, "password-123")
    customers = Customers()
    app = create_app(settings, customers, run_clock=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield base, customers, settings
    server.should_exit = True
    thread.join(timeout=10)


def test_an_agent_works_a_ticket_in_the_browser(served: tuple[str, Customers, Any]) -> None:
    from playwright.sync_api import sync_playwright

    base, customers, settings = served
    token = httpx.post(f"{base}/api/auth/login", json={"login": "xiaowang", "password": "password-123"}).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    svc_h = {"Authorization": "Bearer " + __import__("bot.security", fromlist=["x"]).service_token(
        settings.keyring, "default", "t", 600)}  # fmt: skip
    httpx.post(f"{base}/api/agent/heartbeat", headers=h)
    httpx.post(f"{base}/internal/handoff", headers=svc_h, json={
        "conversation_id": "web-1", "channel": "rest", "customer": {"id": "u1001"}, "text": "杯子碎了"})  # fmt: skip
    sid = httpx.get(f"{base}/api/agent/queue", headers=h).json()["items"][0]["id"]
    httpx.post(f"{base}/api/agent/sessions/{sid}/take", headers=h)
    httpx.post(f"{base}/internal/events", headers=svc_h,
               json={"events": [{"conversation_id": "web-1", "text": "收到的杯子是碎的"}]})  # fmt: skip
    made = httpx.post(f"{base}/api/agent/tickets", headers=h, json={
        "session_id": sid, "title": "杯子破损 " + XSS, "category": "refund", "description": "需要补发"})  # fmt: skip
    assert made.status_code == 200, made.text
    number = made.json()["number"]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        log_in(page, base, "xiaowang")
        page.click("#open-tickets")
        page.wait_for_selector("#tickets-desk:not([hidden])")
        row = page.locator("#t-rows tr", has_text=number)
        row.wait_for()
        assert "新建" in row.inner_text() and "退款/退货" in row.inner_text()
        first = row.locator("td.sla").inner_text()
        assert "分" in first and "超时" not in first
        until(page, f"document.querySelector('#t-rows tr td.sla').textContent !== {first!r}", 5)  # it counts down
        row.click()
        page.wait_for_selector("#t-detail:not([hidden])")
        assert page.inner_text("#d-number") == number and page.inner_text("#d-status") == "新建"
        assert page.evaluate("window.__pwned") is None and "<img" in page.inner_text("#d-title")  # text, not HTML
        page.click("#d-transcript")
        page.locator("#d-transcript-lines li", has_text="收到的杯子是碎的").wait_for()
        page.fill("#d-comment", "已联系仓库补发")
        page.click("#d-comment-go")
        page.locator("#d-comments li", has_text="已联系仓库补发").wait_for()
        page.click("#d-actions button[data-status=in_progress]")
        until(page, "document.getElementById('d-status').textContent === '处理中'")
        shot(page, "20-tickets-in-progress")
        page.fill("#d-reply", "新杯子明天发出")
        page.click("#d-actions button[data-status=resolved]")
        until(page, "document.getElementById('d-status').textContent === '已解决'")
        assert [b.inner_text() for b in page.locator("#d-actions button").all()] == ["重新打开", "关闭"]
        page.click("#d-actions button[data-status=closed]")  # a click the status machine still allows
        until(page, "document.getElementById('d-status').textContent === '关闭'")
        assert page.locator("#d-actions button").count() == 0
        browser.close()
    told = customers.texts("web-1")
    assert any(number in x and "工单号" in x for x in told)
    assert told[-1] == f"您的工单 {number} 已处理完成～处理结果：新杯子明天发出。如果问题还没解决，直接回复我就好。"
