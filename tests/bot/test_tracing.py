"""Tracing (bot/tracing.py): off by default and then inert; on, a request that calls another service over
httpx makes one trace — the caller's span the parent of the callee's — exported as OTLP protobuf to a fake
of Jaeger's OTLP receiver (tests/otlp_fake.py), with the request id forwarded. The whole path through the
Rasa server, the action server and the knowledge service is tests/e2e/test_observability.py."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bot import tracing
from bot.errors import ConfigError
from bot.logs import current_request_id, request_id
from bot.observe import instrument
from bot.settings import Settings, load_settings

from ..otlp_fake import FakeOtlpCollector

CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # the W3C spec's example


@pytest.fixture
def collector() -> Iterator[FakeOtlpCollector]:
    c = FakeOtlpCollector()
    yield c
    tracing.shutdown()
    c.close()


def two_services(settings: Settings) -> tuple[TestClient, list[dict[str, str | None]]]:
    """``front`` answers ``GET /orders/{oid}`` by asking ``back`` (``POST /answer``) over httpx, as the action
    server asks the knowledge service."""
    seen: list[dict[str, str | None]] = []

    async def answer(request: Request) -> JSONResponse:
        seen.append({"request_id": current_request_id(), "traceparent": request.headers.get("traceparent")})
        return JSONResponse({"ok": True})

    back = instrument(Starlette(routes=[Route("/answer", answer, methods=["POST"])]), "knowledge", settings)

    async def order(request: Request) -> JSONResponse:
        transport = httpx.ASGITransport(app=back)
        async with httpx.AsyncClient(transport=transport, base_url="http://back",
                                     event_hooks=tracing.httpx_hooks()) as client:  # fmt: skip
            r = await client.post("/answer", json={})
        return JSONResponse(r.json())

    front = instrument(Starlette(routes=[Route("/orders/{oid}", order)]), "actions", settings)
    return TestClient(front), seen


def test_off_by_default_and_then_inert(settings: Settings) -> None:
    assert settings.raw["tracing"] == {"enabled": False, "otlp_endpoint": "http://127.0.0.1:4318",
                                       "service_name_prefix": "csbot", "sample_ratio": 1.0}  # fmt: skip
    client, seen = two_services(settings)
    assert not tracing.enabled()
    r = client.get("/orders/1", headers={"X-Request-Id": "rid-off-1", "traceparent": CALLER})
    assert r.status_code == 200 and r.headers["x-request-id"] == "rid-off-1"
    assert seen == [{"request_id": "rid-off-1", "traceparent": None}]  # the id travels, no trace is made up
    with tracing.span("x") as s:
        assert s is None
    token = request_id.set("abc")
    try:
        assert tracing.outgoing_headers() == {"X-Request-Id": "abc"}
    finally:
        request_id.reset(token)


def test_one_trace_across_two_services(env: dict[str, str], collector: FakeOtlpCollector) -> None:
    settings = load_settings({**env, "CSBOT_TRACING__ENABLED": "true",
                              "CSBOT_TRACING__OTLP_ENDPOINT": collector.endpoint})  # fmt: skip
    client, seen = two_services(settings)
    r = client.get("/orders/250316084512367890", headers={"X-Request-Id": "rid-on-1", "traceparent": CALLER})
    assert r.status_code == 200 and r.headers["x-request-id"] == "rid-on-1"
    assert seen[0]["request_id"] == "rid-on-1" and (seen[0]["traceparent"] or "").startswith(
        "00-0af7651916cd43dd8448eb211c80319c-")  # the caller's trace goes on
    client.get("/orders/2")  # a second request: a trace of its own
    tracing.shutdown()  # exports what is batched
    spans = collector.wait_for(lambda s: len(s) >= 4)
    by_name = {}
    for s in spans:
        by_name.setdefault(s.name, []).append(s)
    assert set(by_name) == {"GET /orders/{oid}", "POST /answer"}  # named by route template, not path
    front, back = by_name["GET /orders/{oid}"][0], by_name["POST /answer"][0]
    assert front.trace_id == back.trace_id == "0af7651916cd43dd8448eb211c80319c"
    assert front.parent_id == "b7ad6b7169203331" and back.parent_id == front.span_id
    assert front.kind == back.kind == 2  # SERVER
    assert front.attributes["http.route"] == "/orders/{oid}" and front.attributes["http.response.status_code"] == 200
    assert front.attributes["csbot.request_id"] == "rid-on-1"
    assert by_name["GET /orders/{oid}"][1].trace_id != front.trace_id  # no traceparent: a new trace
    assert by_name["POST /answer"][1].parent_id == by_name["GET /orders/{oid}"][1].span_id
    assert {s.service for s in spans} == {"csbot-actions"}  # one process here: the last service set up
    assert "250316084512367890" not in str(spans)  # the order id was in the path, never in a span


def test_sample_ratio_zero_exports_nothing_but_keeps_the_request_id(env: dict[str, str],
                                                                   collector: FakeOtlpCollector) -> None:  # fmt: skip
    settings = load_settings({**env, "CSBOT_TRACING__ENABLED": "true", "CSBOT_TRACING__SAMPLE_RATIO": "0",
                              "CSBOT_TRACING__OTLP_ENDPOINT": collector.endpoint})  # fmt: skip
    client, seen = two_services(settings)
    assert client.get("/orders/1", headers={"X-Request-Id": "rid-0"}).status_code == 200
    flags = int((seen[0]["traceparent"] or "").rsplit("-", 1)[1], 16)
    assert seen[0]["request_id"] == "rid-0" and flags & 1 == 0  # passed on, marked not sampled
    tracing.shutdown()
    assert collector.spans == []


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("SAMPLE_RATIO", "1.5", "tracing.sample_ratio"),
    ("SAMPLE_RATIO", "true", "tracing.sample_ratio"),
    ("OTLP_ENDPOINT", "127.0.0.1:4318", "tracing.otlp_endpoint"),
    ("ENABLED", "yes please", "tracing.enabled"),
])  # fmt: skip
def test_bad_tracing_settings_name_the_key(env: dict[str, str], key: str, value: str, expected: str) -> None:
    settings = load_settings({**env, f"CSBOT_TRACING__{key}": value})
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        tracing.setup(settings.raw["tracing"], "knowledge")
