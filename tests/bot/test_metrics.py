"""Metrics (bot/metrics.py, bot/observe.py): route templates as labels (1000 random paths stay a handful of
series), request ids taken, checked, minted and echoed, the metrics token, and the handoff's gauges and
histograms on a real database. The Sanic servers (Rasa, actions) are scraped in tests/e2e/test_observability.py."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from bot.logs import current_request_id
from bot.metrics import UNMATCHED, bounded, channel_label
from bot.observe import instrument
from bot.settings import Settings, load_settings
from bot.storage import migrate
from bot.storage.db import Database
from handoff import assignment as a
from handoff import metrics as handoff_metrics
from handoff.tickets.service import tickets_of
from handoff.tickets.sla import evaluate

from ..conftest import REPO
from ..handoff.conftest import Customers, Desk, make_desk


def samples(text: str, name: str) -> list[dict[str, str]]:
    out = []
    for fam in text_string_to_metric_families(text):
        out += [dict(s.labels) for s in fam.samples if s.name == name]
    return out


def value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


@pytest.fixture
def handoff_app(settings: Settings) -> Iterator[TestClient]:
    from handoff.app import create_app

    migrate.upgrade(Database.from_settings(settings).engine)
    app = instrument(create_app(settings, Customers(), run_clock=False), "handoff", settings)
    with TestClient(app) as client:
        yield client


def test_a_scrape_after_1000_random_paths_has_bounded_series(handoff_app: TestClient) -> None:
    before = {tuple(sorted(s.items())) for s in samples(handoff_app.get("/metrics").text, "csbot_http_requests_total")}
    randoms = [f"/{uuid.uuid4().hex}/{uuid.uuid4().hex[:6]}" for _ in range(1000)]
    for path in randoms:
        assert handoff_app.get(path).status_code == 404
    for sid in range(1, 51):  # 50 sessions: one template
        assert handoff_app.get(f"/api/agent/sessions/{sid}").status_code == 401
    assert handoff_app.post("/internal/handoff", json={}).status_code == 401
    assert handoff_app.post("/health").status_code == 405  # a known path, another method: its own template

    text = handoff_app.get("/metrics").text
    after = samples(text, "csbot_http_requests_total")
    new = [s for s in after if tuple(sorted(s.items())) not in before]
    routes = {s["route"] for s in after}
    assert {UNMATCHED, "/api/agent/sessions/{session_id}", "/internal/handoff", "/health"} <= routes
    assert len(new) <= 5 and len(after) < 40
    assert not any(p.split("/")[1] in text for p in randoms[:50])  # no raw path anywhere in the scrape
    assert "tenant" not in {k for s in after for k in s}
    unmatched = REGISTRY.get_sample_value("csbot_http_requests_total",
                                          {"method": "GET", "route": UNMATCHED, "status": "404"})  # fmt: skip
    assert unmatched is not None and unmatched >= 1000
    buckets = samples(text, "csbot_http_request_duration_seconds_bucket")
    assert {s["route"] for s in buckets} <= routes and all(set(s) == {"method", "route", "le"} for s in buckets)
    # the handoff's gauges come with every scrape, and the process's own
    assert "csbot_handoff_queue_length" in text and "process_resident_memory_bytes" in text


def test_request_ids_are_taken_checked_minted_and_echoed(settings: Settings) -> None:
    seen: list[str | None] = []

    async def handler(request: Request) -> JSONResponse:
        seen.append(current_request_id())
        return JSONResponse({})

    app = instrument(Starlette(routes=[Route("/x", handler), Mount("/m", routes=[Route("/y/{n}", handler)])]),
                     "test", settings)  # fmt: skip
    client = TestClient(app)
    r = client.get("/x", headers={"X-Request-Id": "shop-app.42:retry-1"})
    assert r.headers["x-request-id"] == "shop-app.42:retry-1" == seen[-1]
    for bad in ("has space", "x" * 65, "<script>", "a\u00e9"):
        r = client.get("/m/y/1", headers={"X-Request-Id": bad.encode()})
        assert r.headers["x-request-id"] == seen[-1] != bad and len(seen[-1] or "") == 16
    r1, r2 = client.get("/x"), client.get("/x")
    assert r1.headers["x-request-id"] != r2.headers["x-request-id"]
    assert client.get("/nowhere").headers["x-request-id"]  # a 404 has one too


def test_log_lines_carry_the_service_and_the_request_id() -> None:
    code = ("import logging; from bot.logs import configure_logging, accept_request_id\n"
            "configure_logging('knowledge')\n"
            "logging.getLogger('x').warning('before')\n"
            "accept_request_id('req-123'); logging.getLogger('knowledge.y').warning('during')\n"
            "logging.getLogger('uvicorn.error').error('server')\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stderr.splitlines()  # fmt: skip
    assert len(out) == 3
    assert " knowledge [-] x: before" in out[0]
    assert " knowledge [req-123] knowledge.y: during" in out[1]
    assert " knowledge [req-123] uvicorn.error: server" in out[2]


def test_the_metrics_token_and_switching_metrics_off(env: dict[str, str]) -> None:
    from bot.errors import ConfigError

    token = "a-scrape-token-of-some-length"
    locked = load_settings({**env, "CSBOT_METRICS__TOKEN": token})
    client = TestClient(instrument(Starlette(routes=[]), "test", locked))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-wrong-token"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
    off = load_settings({**env, "CSBOT_METRICS__ENABLED": "false"})
    assert TestClient(instrument(Starlette(routes=[]), "test", off)).get("/metrics").status_code == 404
    with pytest.raises(ConfigError, match=r"metrics\.token"):
        instrument(Starlette(routes=[]), "test", load_settings({**env, "CSBOT_METRICS__TOKEN": "short"}))


def test_metrics_are_answered_before_a_services_own_guard(settings: Settings) -> None:
    from bot.orders.demo_server import create_app

    shop = TestClient(instrument(create_app(key="the-shop-api-key"), "orders", settings))
    assert shop.get("/orders/250316084512367890").status_code == 401  # the shop's API key still guards its API
    assert shop.get("/metrics").status_code == 200
    lines = [x for x in shop.get("/metrics").text.splitlines() if x.startswith("csbot_http_requests_total{")]
    assert any('route="/orders/{order_id}",status="401"' in x for x in lines)


def test_labels_from_outside_are_bounded() -> None:
    assert channel_label("rest") == "rest" and channel_label("socketio") == "socketio"
    assert channel_label("evil\nchannel") == "other" and channel_label(None) == "other"
    assert bounded("GET", ("GET",)) == "GET" and bounded("BREW", ("GET",)) == "other"


@pytest.fixture
def desk(settings: Settings) -> Iterator[Desk]:
    db = Database.from_settings(settings)
    yield make_desk(db)
    db.dispose()


def test_handoff_queue_length_wait_active_sessions_and_assignment(desk: Desk) -> None:
    def gauges() -> dict[str, float]:
        return {f.name: f.samples[0].value for f in handoff_metrics.families(desk.svc.db)}

    waits, passes = value("csbot_handoff_queue_wait_seconds_count"), value("csbot_handoff_assignment_seconds_count")
    agent = desk.agent("a1")
    a.set_available(desk.svc, agent, False)  # on duty, taking no chats yet: customers queue
    desk.ask("c1")
    desk.ask("c2")
    assert gauges() == {"csbot_handoff_queue_length": 2, "csbot_handoff_active_sessions": 0}
    desk.advance(42)
    a.set_available(desk.svc, agent, True)  # an assignment pass offers one chat (one offer at a time)
    assert value("csbot_handoff_assignment_seconds_count") > passes
    with desk.svc.db.session() as db:
        from handoff.models import Offer

        offer = db.query(Offer).filter(Offer.agent_id == agent.user_id).one()
    a.accept(desk.svc, agent, int(offer.offer_id))
    assert gauges() == {"csbot_handoff_queue_length": 1, "csbot_handoff_active_sessions": 1}
    assert value("csbot_handoff_queue_wait_seconds_count") == waits + 1
    assert value("csbot_handoff_queue_wait_seconds_bucket", {"le": "30.0"}) < value(
        "csbot_handoff_queue_wait_seconds_bucket", {"le": "60.0"})  # it waited 42 s


def test_sla_breaches_are_counted_once(desk: Desk) -> None:
    agent = desk.agent("xiaowang")
    desk.ask("c1")
    with desk.svc.db.session() as db:
        from handoff.models import Offer

        offer = db.query(Offer).filter(Offer.agent_id == agent.user_id).one()
    sid = a.accept(desk.svc, agent, int(offer.offer_id)).session_id
    tickets_of(desk.svc).create(agent, title="退款没到", session_id=sid)
    before = value("csbot_ticket_sla_breaches_total")
    desk.advance(120 * 60 + 1)
    assert evaluate(desk.svc) == 1 and evaluate(desk.svc) == 0
    assert value("csbot_ticket_sla_breaches_total") == before + 1
