"""Knowledge service under concurrent load, over HTTP: the real ``python -m knowledge`` server on the sample KB.

    python -m bench.kb_load [--clients 1 8 32] [--seconds 10]

Each client posts questions to ``/answer`` back to back with a service token, as the action server does.
Two mixes: ``unique`` (every request a question never asked before: embedding, retrieval and the gate run
each time) and ``hot`` (the eval questions repeated, as customers repeat the same few questions: mostly
answer-cache hits). Prints one JSON line per (mix, clients): requests/s, p50/p99 ms, errors.
Seed §2.5.4 asks for QPS ≈ 300 with P99 < 120 ms on a scaled deployment; this is one 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def questions() -> list[str]:
    out = []
    for f in ("knowledge/samples/eval.jsonl", "tests/data/kb_heldout.jsonl", "tests/data/kb_heldout2.jsonl"):
        out += [json.loads(line)["query"] for line in (REPO / f).read_text("utf-8").splitlines() if line.strip()]
    return out


async def drive(url: str, token: str, texts: list[str], clients: int, seconds: float,
                unique: bool) -> dict[str, object]:  # fmt: skip
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            i = next(counter)
            q = texts[i % len(texts)]
            if unique:
                q = f"{q} #{i}"  # a new question each time: no cache hit (the number is masked as digits only)
            t = time.perf_counter()
            try:
                r = await http.post(f"{url}/answer", json={"query": q},
                                    headers={"authorization": f"Bearer {token}"})  # fmt: skip
                r.raise_for_status()
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append((time.perf_counter() - t) * 1000)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=clients)) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return {"mix": "unique" if unique else "hot", "clients": clients, "requests": len(latencies),
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1), "errors": errors}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="kb-load-")
    port = free_port()
    # a fresh home; tuning variables (CSBOT_KNOWLEDGE__..., CSBOT_CACHE__..., CSBOT_EMBEDDINGS__...) pass through
    keep = ("CSBOT_KNOWLEDGE__", "CSBOT_CACHE__", "CSBOT_EMBEDDINGS__")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_") or k.startswith(keep)} | {
        "CSBOT_HOME": home, "CSBOT_SERVICES__KNOWLEDGE_PORT": str(port)}  # fmt: skip
    samples = REPO / "knowledge" / "samples"
    csbot = str(REPO / ".venv" / "bin" / "csbot")
    subprocess.run([csbot, "kb", "import", str(samples / "faq.jsonl"), str(samples / "docs"), "--json"], env=env,
                   check=True, stdout=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
    server = subprocess.Popen([PY, "-m", "knowledge"], env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        token = subprocess.run([PY, "-c", "from bot.settings import load_settings; from bot.security import "
                                "service_token; s = load_settings(); print(service_token(s.keyring, 'default', "
                                "'bench', 3600))"], env=env, check=True, capture_output=True, text=True,
                               cwd=REPO).stdout.strip()  # fmt: skip
        texts = questions()
        for unique in (True, False):
            for n in args.clients:
                print(json.dumps(asyncio.run(drive(url, token, texts, n, args.seconds, unique))), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
