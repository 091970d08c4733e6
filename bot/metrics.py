"""Prometheus metrics of every platform process (``GET /metrics``, text format), names ``csbot_*``.

Labels are bounded by design: a route is its template (``/api/agent/sessions/{session_id}``, never the raw
path; unmatched paths share ``<unmatched>``), a channel is one of ``CHANNELS`` or ``other``, and the tenant is
never a label (a platform with many shops would grow a series per shop). Values a process only knows when
asked (queue length, archive lag) come from collectors registered with ``register_collector``, run at scrape.

Every service is one process (uvicorn without workers, Sanic ``single_process``, Rasa's one Sanic worker), so
the default in-process registry is the whole truth: no multiprocess directory is needed. Run several
instances and Prometheus scrapes each; sum() over instances in PromQL.

Runs in both runtimes (3.11 and the Rasa server's 3.10): prometheus_client only.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

from bot.errors import ConfigError

log = logging.getLogger(__name__)

CHANNELS = ("rest", "socketio", "wechat", "wecom_kf")
UNMATCHED = "<unmatched>"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter("csbot_http_requests_total", "HTTP requests answered, by route template and status",
                        ["method", "route", "status"])  # fmt: skip
HTTP_SECONDS = Histogram("csbot_http_request_duration_seconds", "HTTP request latency by route template",
                         ["method", "route"], buckets=LATENCY_BUCKETS)  # fmt: skip
MESSAGES = Counter("csbot_messages_total", "Conversation messages: in from customers (customer = logged in, "
                   "visitor = anonymous), out from the bot or an agent",
                   ["channel", "direction", "sender"])  # fmt: skip
TURN_SECONDS = Histogram("csbot_turn_duration_seconds", "Rasa: from a customer message received to the replies "
                         "sent on its channel", ["channel"], buckets=LATENCY_BUCKETS)  # fmt: skip


def bounded(value: str | None, allowed: Iterable[str], other: str = "other") -> str:
    """``value`` when it is one of ``allowed``, else ``other``: a label never takes outside input as is."""
    return value if value is not None and value in allowed else other


def channel_label(name: str | None) -> str:
    return bounded(name, CHANNELS)


def observe_http(method: str, route: str, status: int, seconds: float | None) -> None:
    """One answered request; ``seconds`` None when the server answered before timing began (Sanic's 404)."""
    method = bounded(method, ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"))
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    if seconds is not None:
        HTTP_SECONDS.labels(method, route).observe(seconds)


# --- values computed at scrape time --------------------------------------------------------------
Families = Callable[[], Iterable[Any]]


class _Scraped(Collector):
    """Runs each registered callback at scrape; one failing (the database away) drops only its own metrics."""

    def __init__(self) -> None:
        self.sources: dict[str, Families] = {}
        self.lock = threading.Lock()

    def collect(self) -> Iterable[Any]:
        with self.lock:
            sources = list(self.sources.items())
        for name, source in sources:
            try:
                yield from list(source())
            except Exception as exc:  # a scrape must answer
                log.warning("metrics source %s failed: %s", name, exc)


_SCRAPED = _Scraped()
REGISTRY.register(_SCRAPED)


def register_collector(name: str, source: Families) -> None:
    """Add (or replace, for an app built again) a source of metric families read at every scrape."""
    with _SCRAPED.lock:
        _SCRAPED.sources[name] = source


def unregister_collector(name: str) -> None:
    with _SCRAPED.lock:
        _SCRAPED.sources.pop(name, None)


# --- the endpoint ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricsConfig:
    """``metrics: {enabled: true, token: null}``. With a token, ``/metrics`` needs ``Authorization: Bearer
    <token>`` (Prometheus ``authorization: {credentials: …}``); without one it is open like ``/health``."""

    enabled: bool = True
    token: str | None = None

    @classmethod
    def from_mapping(cls, raw: Any) -> MetricsConfig:
        raw = raw or {}
        enabled, token = raw.get("enabled", True), raw.get("token")
        if not isinstance(enabled, bool):
            raise ConfigError("metrics.enabled", "true or false", enabled)
        if token is not None and (not isinstance(token, str) or len(token) < 16):
            raise ConfigError("metrics.token", "a string of at least 16 characters, or null")
        return cls(enabled, token or None)

    def allows(self, authorization: str | None) -> bool:
        if self.token is None:
            return True
        return hmac.compare_digest((authorization or "").encode(), f"Bearer {self.token}".encode())


def exposition(config: MetricsConfig, authorization: str | None) -> tuple[int, bytes, dict[str, str]]:
    """(status, body, headers) of a scrape; blocking (collectors may ask the database): call it off the loop."""
    if not config.allows(authorization):
        return 401, b"metrics need the metrics token\n", {"WWW-Authenticate": "Bearer", "Content-Type": "text/plain"}
    return 200, generate_latest(REGISTRY), {"Content-Type": CONTENT_TYPE_LATEST}
