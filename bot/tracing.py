"""OpenTelemetry tracing, off by default: ``tracing: {enabled, otlp_endpoint, service_name_prefix, sample_ratio}``.

One trace follows a customer message across processes: the channel's request in the Rasa server, the turn,
the action server's call and action, the knowledge and handoff services. The context travels in W3C
``traceparent`` headers on the internal HTTP calls (``outgoing_headers``, ``httpx_hooks``); spans go out over
OTLP/HTTP protobuf (``<otlp_endpoint>/v1/traces``, what Jaeger's OTLP receiver takes) in a background batch.

Disabled, nothing of the SDK is imported and every helper returns at once. Runs in both runtimes (the SDK
is 1.45 in the 3.11 venv, 1.27 in the Rasa server's: only API that both have is used here).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import ConfigError
from bot.logs import REQUEST_ID_HEADER, current_request_id

_tracer: Any = None  # an opentelemetry Tracer while tracing is on, else None
_provider: Any = None


@dataclass(frozen=True)
class TracingConfig:
    enabled: bool = False
    otlp_endpoint: str = "http://127.0.0.1:4318"
    service_name_prefix: str = "csbot"
    sample_ratio: float = 1.0

    @classmethod
    def from_mapping(cls, raw: Any) -> TracingConfig:
        raw = dict(raw or {})
        enabled = raw.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError("tracing.enabled", "true or false", enabled)
        endpoint = raw.get("otlp_endpoint") or cls.otlp_endpoint
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ConfigError("tracing.otlp_endpoint", "an http(s) URL such as http://127.0.0.1:4318", endpoint)
        ratio = raw.get("sample_ratio", 1.0)
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0.0 <= ratio <= 1.0:
            raise ConfigError("tracing.sample_ratio", "a number from 0 to 1", ratio)
        prefix = str(raw.get("service_name_prefix") or cls.service_name_prefix)
        return cls(enabled, endpoint.rstrip("/"), prefix, float(ratio))


def setup(raw: Any, service: str) -> bool:
    """Start exporting this process's spans as ``<prefix>-<service>`` when ``tracing.enabled``; True if on."""
    global _tracer, _provider
    cfg = TracingConfig.from_mapping(raw)
    shutdown()
    if not cfg.enabled:
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    # a caller's sampling decision is kept (ParentBased), so a trace is whole or absent, never in pieces
    provider = TracerProvider(resource=Resource.create({"service.name": f"{cfg.service_name_prefix}-{service}"}),
                              sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)))  # fmt: skip
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{cfg.otlp_endpoint}/v1/traces")))
    # not the global provider: rasa-sdk would then add its own webhook span carrying the conversation id
    _tracer, _provider = provider.get_tracer("csbot"), provider
    return True


def enabled() -> bool:
    return _tracer is not None


def shutdown() -> None:
    """Export what is batched and stop (the SDK also does this at exit)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def _extract(headers: Mapping[str, str]) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    # a plain dict with lower-cased names: every server's header mapping reads the same
    carrier = {k.lower(): v for k, v in headers.items() if k.lower() in ("traceparent", "tracestate")}
    return TraceContextTextMapPropagator().extract(carrier)


def start_server_span(name: str, headers: Mapping[str, str], attributes: Mapping[str, Any] | None = None) -> Any:
    """A SERVER span continuing the caller's trace (``traceparent``), made current; ``finish`` it. None if off.
    For servers whose middleware splits a request in two halves (Sanic); ASGI uses ``server_span``."""
    if _tracer is None:
        return None
    from opentelemetry import context, trace

    span = _tracer.start_span(name, context=_extract(headers), kind=trace.SpanKind.SERVER,
                              attributes=_attrs(attributes))  # fmt: skip
    token = context.attach(trace.set_span_in_context(span))
    return span, token


def annotate(span: Any, method: str, route: str, status: int) -> None:
    """Name a server span after its route template (known only once routed) and record the status."""
    from opentelemetry import trace

    span.update_name(f"{method} {route}")
    span.set_attribute("http.request.method", method)
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if status >= 500:
        span.set_status(trace.Status(trace.StatusCode.ERROR))


def finish(handle: Any, method: str, route: str, status: int) -> None:
    """End a span ``start_server_span`` opened and restore the context it replaced."""
    if handle is None:
        return
    from opentelemetry import context

    span, token = handle
    annotate(span, method, route, status)
    span.end()
    with contextlib.suppress(Exception):  # the request's context may already be gone (a dropped connection)
        context.detach(token)


@contextlib.contextmanager
def server_span(name: str, headers: Mapping[str, str], attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """A SERVER span around one request (``with``); yields the span, or None when tracing is off."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import trace

    with _tracer.start_as_current_span(name, context=_extract(headers), kind=trace.SpanKind.SERVER,
                                       attributes=_attrs(attributes)) as span:  # fmt: skip
        yield span


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """An INTERNAL span under the current one (an action, a turn); a no-op when tracing is off."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=_attrs(attributes)) as s:
        yield s


def _attrs(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {k: v for k, v in (attributes or {}).items() if v is not None}
    rid = current_request_id()
    if rid:
        out["csbot.request_id"] = rid
    return out


def outgoing_headers() -> dict[str, str]:
    """What an internal call carries: the current trace (``traceparent``) and request id (``X-Request-Id``)."""
    out: dict[str, str] = {}
    rid = current_request_id()
    if rid:
        out[REQUEST_ID_HEADER] = rid
    if _tracer is not None:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        TraceContextTextMapPropagator().inject(out)
    return out


def httpx_hooks() -> dict[str, list[Any]]:
    """``event_hooks`` for an ``httpx.AsyncClient`` calling another platform service."""

    async def add_headers(request: Any) -> None:
        for k, v in outgoing_headers().items():
            request.headers.setdefault(k, v)

    return {"request": [add_headers]}


def sync_httpx_hooks() -> dict[str, list[Any]]:
    """The same for a blocking ``httpx.Client`` (the handoff's relay to Rasa runs in worker threads, which
    ``asyncio.to_thread`` gives the request's context)."""

    def add_headers(request: Any) -> None:
        for k, v in outgoing_headers().items():
            request.headers.setdefault(k, v)

    return {"request": [add_headers]}
