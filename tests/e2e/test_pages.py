"""The two pages in a real browser (Playwright driving Debian's Chromium), on the real platform.

The round trip of the product: a customer on a phone-sized web chat asks the bot, asks for a person and sees
their place in the queue; an agent goes online in the inbox and accepts; three messages each way (each timed
from the key press on one page to the line on the other); the customer reloads mid-chat and sees the whole
conversation; the agent transfers with a note to a second agent, who closes with a summary; the customer rates
and the bot answers again. Markup typed on either page stays text. Screenshots of both pages at the key steps
go to ``$CSBOT_ARTIFACTS`` (default ``results/screens``)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from bot.settings import load_settings
from bot.storage.db import Database
from bot.users import UserService

from ..conftest import REPO, free_port
from ..handoff.test_notify import SECRET as PUSH_SECRET
from ..handoff.test_notify import PushService
from ..platform import Platform, start_platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip
SHOTS = Path(os.environ.get("CSBOT_ARTIFACTS") or REPO / "results" / "screens")
PHONE = {"width": 390, "height": 844}
# shops' sites: real servers on loopback (Chromium refuses a public page's scripts from a loopback address)
SHOP_PORT, EVIL_PORT = free_port(), free_port()
SHOP = f"http://127.0.0.1:{SHOP_PORT}"
XSS = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'


@pytest.fixture(scope="module")
def push() -> Iterator[PushService]:
    """The shop's push service (an outside service; a real HTTP server on loopback records its calls)."""
    p = PushService()
    yield p
    p.server.shutdown()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, push: PushService) -> Iterator[Platform]:
    p = start_platform(tmp_path_factory.mktemp("pages"), extra_env={
        "CSBOT_HANDOFF__WORKING_HOURS": "00:00-24:00", "CSBOT_HANDOFF__OFFER_SECONDS": "60",
        "CSBOT_WIDGET__ALLOWED_ORIGINS": SHOP, "CSBOT_HANDOFF__NOTIFY_URL": push.url,
        "CSBOT_HANDOFF__NOTIFY_SECRET": PUSH_SECRET, "CSBOT_HANDOFF__NOTIFY_AFTER_SECONDS": "5"})  # fmt: skip
    yield p
    p.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def agent_account(p: Platform, login: str, name: str) -> None:
    UserService(Database.from_settings(load_settings(p.env))).create("default", login, name, {"agent"},
                                                                      "password-123")  # fmt: skip


def shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))  # type: ignore[attr-defined]


def log_in(page: object, base: str, login: str) -> None:
    page.goto(f"{base}/inbox")  # type: ignore[attr-defined]
    page.fill("#login-name", login)  # type: ignore[attr-defined]
    page.fill("#login-password", "password-123")  # type: ignore[attr-defined]
    page.click("#login-form button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_selector("#desk:not([hidden])")  # type: ignore[attr-defined]


def until(page: object, expression: str, timeout: float = 15) -> None:
    """Poll a JavaScript expression from here: both pages' CSP forbids the eval behind wait_for_function's own
    polling (it only passed when the first look was already true)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)


def go_online(page: object) -> None:
    page.check("#available")  # type: ignore[attr-defined]
    until(page, "document.getElementById('available-label').textContent === '在线'")
    time.sleep(0.5)  # the availability POST lands before the customer asks


def type_and_wait(sender: object, box: str, text: str, receiver: object, where: str) -> float:
    """Seconds from the key press on one page to the line on the other."""
    sender.fill(box, text)  # type: ignore[attr-defined]
    started = time.perf_counter()
    sender.press(box, "Enter")  # type: ignore[attr-defined]
    receiver.locator(where, has_text=text).last.wait_for(timeout=15_000)  # type: ignore[attr-defined]
    return time.perf_counter() - started


def test_customer_reaches_a_person_and_back_in_the_browser(site: Platform, browser: object) -> None:
    from playwright.sync_api import expect

    tag = uuid.uuid4().hex[:4]
    agent_account(site, f"amy{tag}", f"小艾{tag}")
    agent_account(site, f"bob{tag}", f"小博{tag}")
    inbox_url = f"http://127.0.0.1:{site.ports['handoff']}"
    customer_ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)  # type: ignore[attr-defined]
    amy_ctx = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    bob_ctx = browser.new_context(viewport={"width": 1280, "height": 800})  # type: ignore[attr-defined]
    customer, amy, bob = customer_ctx.new_page(), amy_ctx.new_page(), bob_ctx.new_page()
    errors: list[str] = []
    for page in (customer, amy, bob):
        page.on("pageerror", lambda e: errors.append(str(e)))

    # the customer asks the bot first
    customer.goto(f"{site.rasa_url}/webhooks/socketio/chat")
    # the load event can come before the paint entry is recorded (a cold browser's first page)
    until(customer, "performance.getEntriesByName('first-contentful-paint').length > 0")
    paint = customer.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime")
    print(f"\nweb chat first contentful paint: {paint:.0f} ms")
    assert paint < 3000  # the 1 s target is reported (docs/benchmarks.md); a loaded CI machine gets slack
    customer.fill("#input", "退货运费谁出")
    customer.press("#input", "Enter")
    expect(customer.locator("#log li.bot").first).to_be_visible(timeout=20_000)
    bot_answer = customer.locator("#log li.bot").first.inner_text()
    assert "运费" in bot_answer

    log_in(amy, inbox_url, f"amy{tag}")
    go_online(amy)
    customer.fill("#input", "转人工")
    customer.press("#input", "Enter")
    expect(customer.locator("#status")).to_contain_text("前面还有", timeout=20_000)
    shot(customer, "01-customer-queued")

    # the agent is offered the chat, with a countdown, and accepts
    offer = amy.locator("#offers li").first
    expect(offer).to_be_visible(timeout=20_000)
    expect(offer.locator(".countdown")).to_have_text(re.compile(r"\d+ 秒"))
    shot(amy, "02-inbox-offer")
    offer.locator("button", has_text="接入").click()
    expect(customer.locator("#status")).to_contain_text(f"小艾{tag}", timeout=15_000)
    # what the customer told the bot is on the agent's screen: they never repeat themselves
    expect(amy.locator("#messages li.before", has_text="退货运费谁出")).to_be_visible(timeout=10_000)
    expect(amy.locator("#ctx-summary")).to_contain_text("退货运费谁出")
    # agent assist: the knowledge base's answers to what the customer asked, with their sources, one click away
    expect(amy.locator("#assist-query")).to_contain_text("退货运费谁出", timeout=15_000)
    suggestion = amy.locator("#assist li").first
    expect(suggestion).to_contain_text("运费")
    expect(suggestion).to_contain_text(re.compile(r"(FAQ|文档) \S+"))
    suggestion.locator("button", has_text="插入").click()
    assert amy.input_value("#draft") == suggestion.locator("p").inner_text()

    # three messages each way, timed page to page
    waits = []
    for i, (mine, theirs) in enumerate([("订单250316084512367890还没退款", "我帮您查一下"),
                                        ("好的谢谢", "已经在处理了"), ("多久能到账", "1-3 个工作日")]):  # fmt: skip
        waits.append(type_and_wait(customer, "#input", mine, amy, "#messages li.customer"))
        waits.append(type_and_wait(amy, "#draft", theirs, customer, "#log li.agent"))
        if i == 0:
            shot(amy, "03-inbox-chat")
    shot(customer, "04-customer-chat")
    # the order the customer named is looked up in the shop's order API, on the agent's context panel
    expect(amy.locator("#ctx-orders li", has_text="250316084512367890")).to_contain_text("客户提到", timeout=10_000)
    p99 = sorted(waits)[-1]
    print(f"\npage-to-page: median {statistics.median(waits) * 1000:.0f} ms, max {p99 * 1000:.0f} ms "
          f"over {len(waits)} lines")  # fmt: skip
    assert p99 < 2.0, waits  # the 200 ms target is measured and reported (docs/benchmarks.md), not asserted here

    # markup stays text on both pages
    customer.fill("#input", XSS)
    customer.press("#input", "Enter")
    expect(amy.locator("#messages li.customer", has_text="<script>")).to_be_visible(timeout=10_000)
    amy.fill("#draft", XSS)
    amy.press("#draft", "Enter")
    expect(customer.locator("#log li.agent", has_text="<script>")).to_be_visible(timeout=10_000)
    assert customer.evaluate("window.__pwned") is None and amy.evaluate("window.__pwned") is None
    assert customer.locator("#log img").count() == 0 and amy.locator("#messages img").count() == 0

    # the customer reloads mid-chat: the whole conversation is back
    customer.reload()
    for line in ("退货运费谁出", "转人工", "多久能到账", "1-3 个工作日", "我帮您查一下"):
        expect(customer.locator("#log li", has_text=line).first).to_be_visible(timeout=10_000)
    expect(customer.locator("#status")).to_contain_text(f"小艾{tag}")

    # transfer with a note to the second agent, who sees it and closes with a summary
    log_in(bob, inbox_url, f"bob{tag}")
    go_online(bob)
    amy.click("#transfer")
    bob_option = amy.locator("#transfer-to option", has_text=f"小博{tag}")
    expect(bob_option).to_contain_text("在线")
    amy.select_option("#transfer-to", value=bob_option.get_attribute("value"))
    amy.fill("#transfer-note", "客户等退款，已查过订单")
    amy.click("#transfer-ok")
    offer = bob.locator("#offers li").first
    expect(offer).to_contain_text("客户等退款", timeout=20_000)
    offer.locator("button", has_text="接入").click()
    expect(customer.locator("#status")).to_contain_text(f"小博{tag}", timeout=15_000)
    expect(amy.locator("#chats li")).to_have_count(0)  # gone from the first agent's list
    expect(bob.locator("#messages li.divider", has_text="客户等退款")).to_be_visible(timeout=10_000)
    expect(bob.locator("#messages li.customer", has_text="多久能到账")).to_be_visible()
    bob.click("#close-chat")
    bob.fill("#close-summary", "退款进度已告知")
    bob.click("#close-ok")
    expect(bob.locator("#chats li")).to_have_count(0)
    shot(bob, "06-inbox-closed")

    # the customer rates, then the bot is back
    rating = customer.locator("#log .replies button", has_text="5 分").last
    expect(rating).to_be_visible(timeout=15_000)
    shot(customer, "05-customer-csat")
    rating.click()
    expect(customer.locator("#log li.bot").last).to_contain_text("谢谢", timeout=15_000)
    before = customer.locator("#log li.bot").count()
    customer.fill("#input", "退货运费谁出")
    customer.press("#input", "Enter")
    expect(customer.locator("#log li.bot")).to_have_count(before + 1, timeout=20_000)
    assert "运费" in customer.locator("#log li.bot").last.inner_text()
    assert not errors, errors
    for page in (amy, bob):  # off duty: later tests' customers go to their own agents
        page.uncheck("#available")
        until(page, "document.getElementById('available-label').textContent === '离线'")
    time.sleep(0.5)
    for ctx in (customer_ctx, amy_ctx, bob_ctx):
        ctx.close()


def test_an_expired_agent_login_asks_again_and_keeps_the_draft(site: Platform, browser: object) -> None:
    from playwright.sync_api import expect

    tag = uuid.uuid4().hex[:4]
    agent_account(site, f"cat{tag}", f"小凯{tag}")
    inbox_url = f"http://127.0.0.1:{site.ports['handoff']}"
    ctx = browser.new_context()  # type: ignore[attr-defined]
    page = ctx.new_page()
    log_in(page, inbox_url, f"cat{tag}")
    customer = browser.new_context(viewport=PHONE).new_page()  # type: ignore[attr-defined]
    customer.goto(f"{site.rasa_url}/webhooks/socketio/chat")
    go_online(page)
    customer.fill("#input", "人工客服")
    customer.press("#input", "Enter")
    page.locator("#offers li button", has_text="接入").first.click(timeout=20_000)
    page.wait_for_selector("#conversation:not([hidden])")
    page.fill("#draft", "这条草稿不能丢")
    # the login ends elsewhere (revoked): the next send is refused, the page asks to log in, the draft stays
    token = page.evaluate("sessionStorage.getItem('csbot.agent.token')")
    assert httpx.post(f"{inbox_url}/api/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code < 300
    page.press("#draft", "Enter")
    expect(page.locator("#login")).to_be_visible(timeout=10_000)
    expect(page.locator("#login-why")).to_contain_text("登录已过期")
    assert page.input_value("#draft") == "这条草稿不能丢"
    page.fill("#login-password", "password-123")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login")).to_be_hidden()
    page.press("#draft", "Enter")
    expect(customer.locator("#log li.agent", has_text="这条草稿不能丢")).to_be_visible(timeout=15_000)
    ctx.close()


@dataclass
class Chat:
    """An agent in the inbox chatting with a web customer (each in their own browser context)."""

    agent_ctx: object
    agent: object
    customer_ctx: object
    customer: object
    name: str

    def close(self) -> None:
        """The agent ends the chat and goes off duty (later tests' customers go to their own agents)."""
        self.agent.click("#close-chat")  # type: ignore[attr-defined]
        self.agent.click("#close-ok")  # type: ignore[attr-defined]
        self.agent.uncheck("#available")  # type: ignore[attr-defined]
        until(self.agent, "document.getElementById('available-label').textContent === '离线'")
        for ctx in (self.agent_ctx, self.customer_ctx):
            with contextlib.suppress(Exception):  # a test may have closed the customer's already
                ctx.close()  # type: ignore[attr-defined]


def chat_with_a_person(site: Platform, browser: object, login: str, name: str, ask: str = "人工") -> Chat:
    """A new agent goes online; a web customer asks for a person; the agent accepts."""
    from playwright.sync_api import expect

    agent_account(site, login, name)
    agent_ctx, customer_ctx = browser.new_context(), browser.new_context(viewport=PHONE)  # type: ignore[attr-defined]
    agent, customer = agent_ctx.new_page(), customer_ctx.new_page()
    log_in(agent, f"http://127.0.0.1:{site.ports['handoff']}", login)
    go_online(agent)
    customer.goto(f"{site.rasa_url}/webhooks/socketio/chat")
    customer.fill("#input", ask)
    customer.press("#input", "Enter")
    agent.locator("#offers li button", has_text="接入").first.click(timeout=20_000)
    expect(customer.locator("#status")).to_contain_text(name, timeout=15_000)
    return Chat(agent_ctx, agent, customer_ctx, customer, name)


def test_a_supervisor_sees_the_day_and_ends_a_chat_an_agent_holds(site: Platform, browser: object) -> None:
    from playwright.sync_api import expect

    tag = uuid.uuid4().hex[:4]
    UserService(Database.from_settings(load_settings(site.env))).create("default", f"boss{tag}", f"主管{tag}",
                                                                         {"supervisor"}, "password-123")  # fmt: skip
    chat = chat_with_a_person(site, browser, f"dan{tag}", f"小丹{tag}", "找人工")
    agent, customer = chat.agent, chat.customer
    inbox_url = f"http://127.0.0.1:{site.ports['handoff']}"
    boss_ctx = browser.new_context()  # type: ignore[attr-defined]
    boss = boss_ctx.new_page()

    log_in(boss, inbox_url, f"boss{tag}")
    expect(boss.locator("#supervisor")).to_be_visible()
    expect(boss.locator("#today")).to_contain_text(re.compile(r"转人工 [1-9]\d* · 已接待 [1-9]"))
    expect(boss.locator("#agents li", has_text=f"小丹{tag}")).to_contain_text("1/")
    row = boss.locator("#served li", has_text=f"小丹{tag}")
    expect(row).to_have_count(1, timeout=10_000)
    expect(boss.locator("#chats li")).to_have_count(0)  # the agent's chat is not the supervisor's own
    shot(boss, "09-inbox-supervisor")
    row.locator("button", has_text="强制结束").click()
    expect(boss.locator("#close-summary")).to_have_value("主管结束：")
    boss.click("#close-ok")
    expect(agent.locator("#messages li.divider", has_text="会话已结束")).to_be_visible(timeout=15_000)
    expect(customer.locator("#log .replies button", has_text="5 分").last).to_be_visible(timeout=15_000)
    expect(boss.locator("#served li", has_text=f"小丹{tag}")).to_have_count(0, timeout=10_000)
    agent.uncheck("#available")
    until(agent, "document.getElementById('available-label').textContent === '离线'")
    for ctx in (chat.agent_ctx, boss_ctx, chat.customer_ctx):
        ctx.close()  # type: ignore[attr-defined]


def test_photos_and_pdfs_go_both_ways_cleaned_and_a_disguised_program_is_refused(site: Platform,
                                                                                 browser: object) -> None:  # fmt: skip
    from playwright.sync_api import expect

    from tests.bot.test_files import PDF_OK, jpeg_with_gps

    tag = uuid.uuid4().hex[:4]
    agent_account(site, f"eve{tag}", f"小怡{tag}")
    inbox_url = f"http://127.0.0.1:{site.ports['handoff']}"
    agent_ctx, customer_ctx = browser.new_context(), browser.new_context(viewport=PHONE)  # type: ignore[attr-defined]
    agent, customer = agent_ctx.new_page(), customer_ctx.new_page()
    log_in(agent, inbox_url, f"eve{tag}")
    go_online(agent)
    customer.goto(f"{site.rasa_url}/webhooks/socketio/chat")
    until(customer, "!!localStorage.getItem('csbot.session.visitor')")

    # a photo of the broken goods to the bot: shown on the page, and the bot offers a person who can look at it
    customer.set_input_files("#file", files=[{"name": "坏了.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()}])
    expect(customer.locator("#log li.customer img")).to_be_visible(timeout=15_000)
    offer_person = customer.locator("#log .replies button", has_text="转人工").last
    expect(offer_person).to_be_visible(timeout=20_000)
    offer_person.click()
    agent.locator("#offers li button", has_text="接入").first.click(timeout=20_000)
    photo = agent.locator("#messages li.before img").first
    expect(photo).to_be_visible(timeout=15_000)  # the agent sees the photo sent to the bot
    served = httpx.get(photo.get_attribute("src") or "", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert b"PhoneMaker" not in served.content and b"Exif" not in served.content  # no EXIF, no GPS

    # a PDF during the chat reaches the agent as a link; the agent's photo reaches the customer
    customer.set_input_files("#file", files=[{"name": "发票.pdf", "mimeType": "application/pdf", "buffer": PDF_OK}])
    expect(agent.locator("#messages li.customer a.file", has_text="发票.pdf")).to_be_visible(timeout=15_000)
    agent.set_input_files("#file", files=[{"name": "示意.jpg", "mimeType": "image/jpeg", "buffer": jpeg_with_gps()}])
    expect(customer.locator("#log li.agent img")).to_be_visible(timeout=15_000)
    shot(customer, "08-customer-files")

    # a program renamed .jpg is refused with a reason; nothing is sent
    sent = agent.locator("#messages li.customer").count()
    customer.set_input_files("#file", files=[{"name": "cat.jpg", "mimeType": "image/jpeg",
                                              "buffer": b"MZ\x90\x00" + b"\x00" * 2048}])  # fmt: skip
    expect(customer.locator("#log li.notice").last).to_contain_text("只能发送图片", timeout=10_000)
    time.sleep(1)
    assert agent.locator("#messages li.customer").count() == sent
    agent.click("#close-chat")
    agent.click("#close-ok")
    agent.uncheck("#available")
    until(agent, "document.getElementById('available-label').textContent === '离线'")
    for ctx in (agent_ctx, customer_ctx):
        ctx.close()


def test_a_customer_who_left_gets_a_push_for_the_agents_line_and_one_who_looks_does_not(
        site: Platform, browser: object, push: PushService) -> None:  # fmt: skip
    from handoff.notify import signature

    tag = uuid.uuid4().hex[:4]
    chat = chat_with_a_person(site, browser, f"fay{tag}", f"小菲{tag}")
    agent, customer, customer_ctx = chat.agent, chat.customer, chat.customer_ctx

    def pushed(text: str) -> list[dict]:
        return [p for p in push.payloads() if p["preview"] == text]

    looking = f"看得到吗{tag}"
    type_and_wait(agent, "#draft", looking, customer, "#log li.agent")
    time.sleep(7)  # past the 5 s of this platform: the page said it was seen
    assert pushed(looking) == []
    customer_ctx.close()  # the customer leaves
    gone = f"您还在吗{tag}"
    agent.fill("#draft", gone)
    agent.press("#draft", "Enter")
    deadline = time.monotonic() + 15
    while not pushed(gone) and time.monotonic() < deadline:
        time.sleep(0.2)
    (call,) = pushed(gone)
    assert call["agent"]["name"] == f"小菲{tag}" and call["conversation_id"].startswith("w-")
    headers, body = next((h, b) for h, b in push.calls if json.loads(b)["preview"] == gone)
    assert headers["x-csbot-signature"] == signature(PUSH_SECRET, headers["x-csbot-timestamp"], body)
    chat.close()


@contextlib.contextmanager
def shop_site(port: int, site: Platform, token: str) -> Iterator[str]:
    """A shop's own page with the one-line snippet, on its own origin."""
    html = (f'<!doctype html><meta charset="utf-8"><title>小满优选</title><h1>小满优选</h1>'
            f'<script src="{site.rasa_url}/webhooks/socketio/widget.js" data-customer-token="{token}" async>'
            "</script>").encode()  # fmt: skip

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.shutdown()
        server.server_close()


def shop_page(browser: object, url: str) -> object:
    page = browser.new_context(viewport=PHONE).new_page()  # type: ignore[attr-defined]
    page.goto(url)
    return page


def test_the_snippet_on_a_shop_page_chats_as_the_logged_in_customer(site: Platform, browser: object) -> None:
    with shop_site(SHOP_PORT, site, site.customer_token("u1001")) as url:
        page = shop_page(browser, url)
        page.click("text=在线客服")
        _chat_as_customer(page)


def _chat_as_customer(page: object) -> None:
    from playwright.sync_api import expect

    chat = page.frame_locator("iframe[title=在线客服]")
    chat.locator("#input").fill("订单250316084512367890到哪了")
    chat.locator("#input").press("Enter")
    reply = chat.locator("#log li.bot").first
    expect(reply).to_be_visible(timeout=20_000)
    assert "先登录" not in reply.inner_text()  # the shop's token made them a known customer
    card = chat.locator("#log .card").first  # the order, drawn as a card under the reply
    expect(card).to_contain_text("250316084512367890", timeout=20_000)
    expect(card).to_contain_text("顺丰")
    shot(page, "07-snippet-on-shop-page")
    page.context.close()


def test_the_chat_page_refuses_to_be_framed_by_a_site_not_on_the_list(site: Platform, browser: object) -> None:
    with shop_site(EVIL_PORT, site, site.customer_token("u1001")) as url:
        page = shop_page(browser, url)
        page.click("text=在线客服")
        time.sleep(3)
        frame = next(f for f in page.frames if f != page.main_frame)
        assert frame.evaluate("document.getElementById('input')") is None  # blocked by frame-ancestors
        page.context.close()
