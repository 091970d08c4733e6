"""What metrics and tracing cost: REST throughput of the whole platform (`csbot run`) with observability off,
then on, one run each.

* off: ``metrics.enabled: false`` (no /metrics, no HTTP timing) and ``tracing.enabled: false``; request ids
  and the Rasa server's turn counters stay (they cannot be switched off).
* on: metrics on and scraped every 5 s on all six services (Prometheus' default is 15 s), tracing on at
  ``sample_ratio: 1.0``, every span exported over OTLP/HTTP to a receiver in this process that parses and
  counts them (standing where Jaeger would).

The load: 20 logged-in customers at once, each a series of short conversations (greeting, two order lookups,
a policy question, goodbye: action turns, the demo shop and the knowledge service on every one). Beside
throughput, the CPU seconds the platform's processes spent per message: on a shared machine throughput moves
with what the neighbours run (``others_cpu_s`` says how much), CPU per message hardly does.

    python -m bench.observability_bench [--rounds 20] [--only on|off] [--quiet 1.5] [--patience 1800]
    python -m bench.observability_bench --micro    # in process: CPU per request of the middleware, per scrape
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.machine import cpu
from bench.rasa_bench import SHORT, free_port, pct
from bot.identity import customer_token
from bot.settings import Settings, load_settings

REPO = Path(__file__).resolve().parent.parent
CSBOT = str(REPO / ".venv" / "bin" / "csbot")
SERVICES = ("rasa", "actions", "handoff", "orders", "knowledge", "archive")


class OtlpSink:
    """Accepts ``POST /v1/traces`` (protobuf) and counts the spans, as a trace backend would receive them."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans = self.posts = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                req = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["content-length"])))
                sink.spans += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
                sink.posts += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


class Scraper:
    def __init__(self, ports: dict[str, int], every: float = 5.0) -> None:
        self.ports, self.every, self.scrapes, self.bytes, self.failed = ports, every, 0, 0, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as c:
            while not self.stop.wait(self.every):
                for name in SERVICES:
                    try:
                        r = c.get(f"http://127.0.0.1:{self.ports[name]}/metrics")
                        r.raise_for_status()
                    except httpx.HTTPError:
                        self.failed += 1
                        continue
                    self.scrapes, self.bytes = self.scrapes + 1, self.bytes + len(r.content)


Started = tuple[subprocess.Popen[bytes], dict[str, str], dict[str, int]]


def start(mode: str, root: Path, sink: OtlpSink | None) -> Started:
    home = root / mode / "home"
    shutil.rmtree(root / mode, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copytree(load_settings().models_dir, home / "models")
    ports = {name: free_port() for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env.update({"CSBOT_HOME": str(home), "CSBOT_METRICS__ENABLED": str(mode == "on").lower(),
                "CSBOT_TRACING__ENABLED": str(mode == "on").lower(),
                # the limits stay on (their cost is in both runs) but this load must never reach them
                "CSBOT_RATE_LIMIT__PER_CONVERSATION": "1000000/10s", "CSBOT_RATE_LIMIT__PER_IP": "1000000/10s"})
    if sink is not None:
        env["CSBOT_TRACING__OTLP_ENDPOINT"] = sink.url
    env.update({f"CSBOT_SERVICES__{k.upper()}_PORT": str(v) for k, v in ports.items()})
    for cmd in (["db", "upgrade"], ["kb", "seed"]):
        subprocess.run([CSBOT, *cmd], env=env, cwd=REPO, check=True, capture_output=True)
    log = root / mode / "run.log"
    proc = subprocess.Popen([CSBOT, "run", "--no-setup"], env=env, cwd=REPO, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 400
    while "csbot is up" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"csbot run ({mode}) did not come up: {log.read_text()[-2000:]}")
        time.sleep(0.5)
    return proc, env, ports


async def load(base: str, settings: Settings, rounds: int, senders: int = 20) -> dict[str, Any]:
    url = f"{base}/webhooks/rest/webhook"

    async def series(client: httpx.AsyncClient, j: int, rounds: int) -> list[float]:
        out = []
        for k in range(rounds):
            who = f"obs{j}x{k}x{time.time_ns() % 10**9}"
            headers = {"Authorization": f"Bearer {customer_token(settings, who)}"}
            for m in SHORT:
                t0 = time.perf_counter()
                (await client.post(url, json={"sender": who, "message": m}, headers=headers)).raise_for_status()
                out.append((time.perf_counter() - t0) * 1000)
        return out

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*[series(client, j, 1) for j in range(senders)])  # warm-up: caches, connections
        t0 = time.perf_counter()
        results = await asyncio.gather(*[series(client, j, rounds) for j in range(senders)])
        elapsed = time.perf_counter() - t0
    lat = [x for r in results for x in r]
    return {"messages": len(lat), "seconds": round(elapsed, 1), "msg_per_s": round(len(lat) / elapsed, 2),
            "p50_ms": round(pct(lat, 50), 1), "p95_ms": round(pct(lat, 95), 1), "p99_ms": round(pct(lat, 99), 1)}


def wait_for_quiet(limit: float, patience: float) -> float:
    """This machine is shared: start only once the 1-minute load average is under ``limit`` (or after
    ``patience`` seconds, reported); a busy neighbour would count as the cost of whichever mode ran then."""
    deadline = time.monotonic() + patience
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        time.sleep(10)
    return os.getloadavg()[0]


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def busy_seconds() -> float:
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) + getattr(t, "steal", 0.0)


def run(mode: str, root: Path, rounds: int, quiet: float, patience: float) -> dict[str, Any]:
    sink = OtlpSink() if mode == "on" else None
    proc, env, ports = start(mode, root, sink)
    scraper = Scraper(ports) if mode == "on" else None
    try:
        load_before = wait_for_quiet(quiet, patience)  # also lets this platform's own start-up settle
        if scraper is not None:
            scraper.thread.start()
        # CPU the platform spends per message: unlike throughput, hardly moved by what neighbours run
        platform = psutil.Process(proc.pid)
        procs = [platform, *platform.children(recursive=True)]
        me = psutil.Process()
        cpu0, busy0, me0 = cpu_seconds(procs), busy_seconds(), cpu_seconds([me])
        row: dict[str, Any] = {"mode": mode, "loadavg_before": round(load_before, 2),
                               **asyncio.run(load(f"http://127.0.0.1:{ports['rasa']}", load_settings(env), rounds)),
                               "loadavg_after": round(os.getloadavg()[0], 2)}  # fmt: skip
        used, busy, mine = cpu_seconds(procs) - cpu0, busy_seconds() - busy0, cpu_seconds([me]) - me0
        row.update(platform_cpu_s=round(used, 1), cpu_ms_per_msg=round(1000 * used / row["messages"], 2),
                   bench_cpu_s=round(mine, 1), others_cpu_s=round(max(0.0, busy - used - mine), 1))
        status = json.loads((Path(env["CSBOT_HOME"]) / "run" / "status.json").read_text())
        row["restarts"] = sum(s["restarts"] for s in status["services"].values())
        if scraper is not None:
            scraper.stop.set()
            scraper.thread.join()
            row.update(scrapes=scraper.scrapes, scrapes_failed=scraper.failed, scraped_kb=round(scraper.bytes / 1024))
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    if sink is not None:
        row.update(spans_exported=sink.spans, otlp_posts=sink.posts)
        sink.server.shutdown()
    return row


def micro(n: int = 5000) -> dict[str, Any]:
    """CPU per request of the Starlette middleware in process: without it, off (request id and route template
    only), with metrics, with metrics and a span encoded as the OTLP exporter does (sent nowhere: the receiver's
    work is not the platform's); and one scrape of this process's registry."""
    import tempfile

    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    from bot import tracing
    from bot.metrics import MetricsConfig, exposition
    from bot.observe import instrument

    class Encode(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            encode_spans(spans).SerializeToString()
            return SpanExportResult.SUCCESS

    async def ok(_: Any) -> JSONResponse:
        return JSONResponse({"ok": True})

    def app() -> Starlette:  # the knowledge service's shape: a score of routes and a mount
        return Starlette(routes=[*(Route(f"/r{i}/{{x}}", ok, methods=["POST"]) for i in range(20)),
                                 Mount("/api", routes=[Route("/answer", ok, methods=["POST"])])])  # fmt: skip

    scope = {"type": "http", "method": "POST", "path": "/api/answer", "root_path": "", "query_string": b"",
             "headers": [(b"traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")]}

    async def calls(target: Any, count: int) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(_: Any) -> None:
            pass

        for _ in range(count):
            await target(dict(scope), receive, send)

    def per_call(target: Any) -> float:
        asyncio.run(calls(target, 300))
        t0 = time.process_time()
        asyncio.run(calls(target, n))
        return round((time.process_time() - t0) / n * 1e6, 1)

    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")} | {"CSBOT_HOME": tempfile.mkdtemp()}
    off = instrument(app(), "bench", load_settings({**env, "CSBOT_METRICS__ENABLED": "false"}))
    on = instrument(app(), "bench", load_settings(env))
    out: dict[str, Any] = {"bare_us": per_call(app()), "off_us": per_call(off), "metrics_us": per_call(on)}
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Encode(), max_queue_size=n * 2))
    tracing._tracer = provider.get_tracer("csbot")  # the exporter's encoding without its HTTP
    out["metrics_and_span_us"] = per_call(on)
    provider.shutdown()
    tracing._tracer = None
    t0 = time.process_time()
    for _ in range(200):
        exposition(MetricsConfig(), None)
    out["scrape_ms"] = round((time.process_time() - t0) / 200 * 1000, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20, help="conversations per customer (7 messages each)")
    ap.add_argument("--only", choices=("on", "off"))
    ap.add_argument("--quiet", type=float, default=1.5, help="start a run once the load average is under this")
    ap.add_argument("--patience", type=float, default=1800, help="…or after this many seconds of waiting")
    ap.add_argument("--micro", action="store_true", help="only the in-process cost per request (seconds)")
    args = ap.parse_args()
    if args.micro:
        print(json.dumps({"machine": cpu(), "micro": [micro() for _ in range(3)]}, indent=2))
        return
    root = load_settings().home / "bench" / "observability"
    rows = [run(mode, root, args.rounds, args.quiet, args.patience) for mode in ("off", "on")
            if args.only in (None, mode)]
    out: dict[str, Any] = {"machine": cpu(), "rows": rows}
    if len(rows) == 2:
        out["throughput_cost_pct"] = round(100 * (1 - rows[1]["msg_per_s"] / rows[0]["msg_per_s"]), 1)
        out["cpu_cost_pct"] = round(100 * (rows[1]["cpu_ms_per_msg"] / rows[0]["cpu_ms_per_msg"] - 1), 1)
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
