"""Observability on the real platform (`csbot run`) with tracing on, exporting to a fake of Jaeger's OTLP
receiver (tests/otlp_fake.py): one customer message over REST is one trace through the Rasa server, the action
server and the knowledge service, with each span's parent the one that called it; every service serves
/metrics; random paths stay a handful of series on the Sanic servers too; the Grafana dashboard asks only for
metrics some service exports."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ..conftest import REPO
from ..otlp_fake import FakeOtlpCollector, SpanSeen
from ..platform import Platform, start_platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]
SERVICES = ("rasa", "actions", "handoff", "orders", "knowledge", "archive")


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeOtlpCollector]:
    c = FakeOtlpCollector()
    yield c
    c.close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, collector: FakeOtlpCollector) -> Iterator[Platform]:
    p = start_platform(tmp_path_factory.mktemp("observed"), {
        "CSBOT_TRACING__ENABLED": "true", "CSBOT_TRACING__OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200"})  # fmt: skip
    yield p
    p.stop()


def scrape(p: Platform, service: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    r = httpx.get(f"http://127.0.0.1:{p.ports[service]}/metrics", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), (service, r.status_code)
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def test_one_message_is_one_trace_through_rasa_actions_and_knowledge(traced: Platform,
                                                                     collector: FakeOtlpCollector) -> None:
    r = httpx.post(f"{traced.rasa_url}/webhooks/rest/webhook", json={"sender": "obs-1", "message": "支持花呗吗"},
                   headers={"X-Request-Id": "e2e-trace-1"}, timeout=60)  # fmt: skip
    assert r.status_code == 200 and r.json() and r.headers["x-request-id"] == "e2e-trace-1"

    def ours(spans: list[SpanSeen]) -> list[SpanSeen]:
        return [s for s in spans if s.attributes.get("csbot.request_id") == "e2e-trace-1"]

    def complete(spans: list[SpanSeen]) -> bool:
        return {s.service for s in ours(spans)} >= {"csbot-rasa", "csbot-actions", "csbot-knowledge"}

    spans = ours(collector.wait_for(complete, timeout=60))
    assert complete(spans), [(s.service, s.name) for s in spans]
    by_id = {s.span_id: s for s in spans}
    assert len({s.trace_id for s in spans}) == 1

    answer = next(s for s in spans if s.service == "csbot-knowledge" and s.name == "POST /answer")
    action = by_id[answer.parent_id]  # the action that asked the knowledge service
    assert action.service == "csbot-actions" and action.name.startswith("action ")
    webhook = by_id[action.parent_id]
    assert (webhook.service, webhook.name, webhook.kind) == ("csbot-actions", "POST /webhook", 2)
    turn = by_id[webhook.parent_id]  # Rasa's call to the action server carried the turn's context
    assert (turn.service, turn.name) == ("csbot-rasa", "turn rest")
    channel = by_id[turn.parent_id]
    assert (channel.service, channel.name, channel.parent_id) == ("csbot-rasa", "POST /webhooks/rest/webhook", "")
    assert channel.attributes["http.response.status_code"] == 200
    assert "obs-1" not in json.dumps([s.attributes for s in spans], ensure_ascii=False)  # no conversation id


def test_every_service_serves_metrics(traced: Platform) -> None:
    httpx.post(f"{traced.rasa_url}/webhooks/rest/webhook", json={"sender": "obs-2", "message": "运费险怎么用"},
               timeout=60).raise_for_status()  # fmt: skip
    rasa = scrape(traced, "rasa")
    assert total(rasa, "csbot_messages_total", channel="rest", direction="in", sender="visitor") >= 1
    assert total(rasa, "csbot_messages_total", channel="rest", direction="out", sender="bot") >= 1
    assert total(rasa, "csbot_turn_duration_seconds_count", channel="rest") >= 1
    assert total(rasa, "csbot_http_requests_total", route="/webhooks/rest/webhook", status="200") >= 1
    actions = scrape(traced, "actions")
    assert total(actions, "csbot_http_request_duration_seconds_count", route="/webhook") >= 1
    knowledge = scrape(traced, "knowledge")
    assert total(knowledge, "csbot_kb_answers_total") >= 1 and "csbot_kb_cache_lookups_total" in knowledge
    handoff = scrape(traced, "handoff")
    assert handoff["csbot_handoff_queue_length"][0][1] == 0 and "csbot_handoff_queue_wait_seconds_count" in handoff
    deadline = time.monotonic() + 30
    while total(archive := scrape(traced, "archive"), "csbot_archive_archived_total") < 2:  # both lines archived
        assert time.monotonic() < deadline, archive.get("csbot_archive_archived_total")
        time.sleep(0.5)
    assert {lab["reader"] for lab, _ in archive["csbot_archive_lag_seconds"]} == {"archiver", "search-index"}
    for service in SERVICES:
        assert scrape(traced, service)["process_resident_memory_bytes"][0][1] > 0
    # handoff and the knowledge service never export the other's metrics
    assert "csbot_kb_answers_total" not in handoff and "csbot_handoff_queue_length" not in knowledge


def test_random_paths_on_the_sanic_servers_stay_a_handful_of_series(traced: Platform) -> None:
    def series(service: str) -> set[tuple[tuple[str, str], ...]]:
        return {tuple(sorted(lab.items())) for lab, _ in scrape(traced, service).get("csbot_http_requests_total", [])}

    before = {s: series(s) for s in ("rasa", "actions")}
    randoms = [uuid.uuid4().hex for _ in range(1000)]
    with httpx.Client(timeout=30) as c:
        for i, r in enumerate(randoms):
            if i % 4 == 0:
                c.get(f"{traced.rasa_url}/conversations/{r}/tracker")  # a templated route, refused: 401
            elif i % 4 == 1:
                c.get(f"{traced.rasa_url}/webhooks/{r}/webhook")
            elif i % 4 == 2:
                c.get(f"{traced.rasa_url}/{r}/{r[:5]}")
            else:
                c.post(f"http://127.0.0.1:{traced.ports['actions']}/{r}")
    for service in ("rasa", "actions"):
        new = series(service) - before[service]
        assert len(new) <= 4, (service, new)
        text = httpx.get(f"http://127.0.0.1:{traced.ports[service]}/metrics").text
        assert not any(r in text for r in randoms[:100])
    routes = {dict(s)["route"] for s in series("rasa")}
    assert "/conversations/<conversation_id:path>/tracker" in routes


def test_log_lines_carry_the_request_id(traced: Platform) -> None:
    httpx.get(f"http://127.0.0.1:{traced.ports['handoff']}/health", headers={"X-Request-Id": "e2e-log-7"})
    log = traced.home / "logs" / "handoff.log"
    deadline = time.monotonic() + 10
    while "[e2e-log-7]" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    line = next(x for x in log.read_text().splitlines() if "[e2e-log-7]" in x)
    assert " handoff [e2e-log-7] uvicorn.access: " in line and "GET /health" in line


def dashboard_metrics() -> set[str]:
    dash = json.loads((REPO / "deploy" / "grafana" / "csbot-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 20
    return {m for e in exprs for m in re.findall(r"\b(?:csbot|process)_[a-z0-9_]+", e)}


def test_the_dashboard_asks_only_for_exported_metrics(traced: Platform) -> None:
    exported: set[str] = set()
    for service in SERVICES:
        exported |= set(scrape(traced, service))
    wanted = dashboard_metrics()
    assert wanted - exported == set()
    assert {"csbot_turn_duration_seconds_bucket", "csbot_handoff_queue_length", "csbot_archive_lag_seconds",
            "csbot_kb_answers_total", "csbot_ticket_sla_breaches_total"} <= wanted  # fmt: skip
    jobs = yaml.safe_load(Path(REPO / "deploy" / "prometheus.yml").read_text())["scrape_configs"]
    assert sorted(j["job_name"] for j in jobs) == sorted(SERVICES)
