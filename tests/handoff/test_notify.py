"""The notify hook: an agent line the customer has not seen within N seconds is POSTed, signed, to the shop's
push service, once. The push service here is a real HTTP server on loopback standing in for the shop's own
(an outside service at its wire boundary)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.settings import Settings
from bot.storage.db import Database
from handoff import assignment as a
from handoff.config import HandoffConfig
from handoff.notify import signature

from .conftest import Desk, make_desk

SECRET = "push-secret-0123456789"


class PushService:
    """The shop's push service: records each call with its headers; answers ``status``."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/push"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.calls]


@pytest.fixture
def push() -> Iterator[PushService]:
    p = PushService()
    yield p
    p.server.shutdown()


@pytest.fixture
def desk(settings: Settings, push: PushService) -> Iterator[Desk]:
    db = Database.from_settings(settings)
    cfg = HandoffConfig(working_hours="00:00-24:00", silence_seconds=3600, notify_url=push.url, notify_secret=SECRET,
                        notify_after_seconds=30)  # fmt: skip
    yield make_desk(db, cfg)
    db.dispose()


def chat(desk: Desk, conv: str = "c1") -> tuple[Any, int]:
    agent = desk.agent("xiaobai")
    ticket = desk.ask(conv)
    from tests.handoff.test_service import offers

    a.accept(desk.svc, agent, int(offers(desk, agent.user_id)[-1]["offer_id"]))
    return agent, int(ticket.session_id)


def test_an_unseen_agent_line_is_pushed_once_signed_after_the_delay(desk: Desk, push: PushService) -> None:
    agent, sid = chat(desk)
    desk.svc.send(agent, sid, "您好，退款已经帮您提交了，1-3 天到账，请留意短信通知" + "。" * 40)
    desk.advance(29)
    a.tick(desk.svc)
    assert push.calls == []  # not yet: the customer may still be looking
    desk.advance(2)
    a.tick(desk.svc)
    a.tick(desk.svc)  # every tick (and every instance) sees it: called once
    assert len(push.calls) == 1
    headers, body = push.calls[0]
    assert headers["x-csbot-signature"] == signature(SECRET, headers["x-csbot-timestamp"], body)
    p = push.payloads()[0]
    assert p["event"] == "agent_message_unseen" and p["conversation_id"] == "c1" and p["customer_id"] == "c1"
    assert p["agent"]["name"] == "客服xiaobai" and p["unseen_count"] == 1 and p["session_id"] == str(sid)
    assert p["preview"].startswith("您好，退款已经帮您提交了") and p["preview"].endswith("…")
    assert len(p["preview"]) == 61
    # a second unseen line later: pushed again, with both counted
    desk.svc.send(agent, sid, "还有别的问题吗")
    desk.advance(31)
    a.tick(desk.svc)
    assert [x["preview"] for x in push.payloads()] == [p["preview"], "还有别的问题吗"]
    assert push.payloads()[1]["unseen_count"] == 2


def test_a_line_the_customer_saw_or_answered_is_not_pushed(desk: Desk, push: PushService) -> None:
    agent, sid = chat(desk)
    desk.svc.send(agent, sid, "请问是哪个订单")
    desk.advance(5)
    assert desk.svc.customer_seen("default", "c1", desk.clock() + 999)  # a clock running ahead counts as now
    desk.advance(60)
    a.tick(desk.svc)
    desk.svc.send(agent, sid, "方便发张照片吗")
    desk.advance(3)
    desk.svc.customer_said("default", "c1", "好的我拍一下", "affirm")
    desk.advance(60)
    a.tick(desk.svc)
    assert push.calls == []
    assert not desk.svc.customer_seen("default", "nobody")


def test_a_push_service_that_fails_does_not_stop_the_clock(desk: Desk, push: PushService) -> None:
    agent, sid = chat(desk)
    push.status = 503
    desk.svc.send(agent, sid, "在吗")
    desk.advance(31)
    a.tick(desk.svc)  # refused: logged, the tick goes on
    push.server.shutdown()
    push.server.server_close()
    desk.svc.send(agent, sid, "还在吗")
    desk.advance(31)
    a.tick(desk.svc)  # unreachable: the same
    assert len(push.calls) == 1


def test_the_hook_needs_an_http_url_and_a_real_secret() -> None:
    with pytest.raises(ConfigError, match="notify_secret"):
        HandoffConfig.from_mapping({"notify_url": "https://push.shop.example/csbot"})
    with pytest.raises(ConfigError, match="notify_url"):
        HandoffConfig.from_mapping({"notify_url": "ftp://x", "notify_secret": SECRET})
    with pytest.raises(ConfigError, match="notify_after_seconds"):
        HandoffConfig.from_mapping({"notify_after_seconds": 0})
    ok = HandoffConfig.from_mapping({"notify_url": "https://p.example", "notify_secret": SECRET})
    assert ok.notify_after_seconds == 60
