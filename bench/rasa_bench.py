"""Rasa pipeline comparison and REST load benchmark.

For each config (the shipped light pipeline and the baselines in bench/configs/): train, evaluate intent
accuracy on the unseen test files, start a real Rasa server beside the real action server and demo order
API, then measure cold start, RSS, and REST latency/throughput:
  * 1 sender, short conversations (mixed, with action turns)
  * 1 sender, one 200-turn conversation (p50 of first vs last 50 turns)
  * 20 concurrent senders, mixed traffic with action turns

    python -m bench.rasa_bench [--configs config.yml,bench/configs/default_diet_ted.yml] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from bot.cli.supervisor import ServiceSpec, Supervisor, http_ok
from bot.identity import customer_token
from bot.rasa_env import WINDOWED_SQL_STORE, actions_api_key, child_env, rasa_bin, server_command
from bot.settings import load_settings

REPO = Path(__file__).resolve().parent.parent
CONFIGS = ["config.yml", "bench/configs/diet_rules.yml", "bench/configs/default_diet_ted.yml"]
TEST_FILES = ["tests/nlu/test_nlu.yml", "tests/nlu/test_nlu_hard.yml"]

# A short conversation: greeting, two order lookups (action turns), a policy question (action turn → knowledge
# service: embedding + retrieval; run `csbot kb seed` first), goodbye.
SHORT = ["你好", "订单250316084512367890到哪了", "谢谢", "250401193325014476 发货了吗", "支持花呗吗", "好的", "拜拜"]
LONG_CYCLE = ["在吗", "查下订单250316084512367890", "物流到哪了", "谢谢", "运费险怎么用", "好的", "嗯嗯"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def train(config: str, home: Path, env: dict[str, str]) -> tuple[Path, float | None]:
    """Train once per config content; returns (model, seconds or None when cached)."""
    import hashlib

    from bot.rasa_env import training_fingerprint

    fp = hashlib.sha256((REPO / config).read_bytes() + training_fingerprint(REPO).encode()).hexdigest()[:16]
    name = Path(config).stem
    out = home / "models" / name
    model = out / f"{fp}.tar.gz"
    if model.is_file():
        return model, None
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    t0 = time.monotonic()
    subprocess.run(
        [str(rasa_bin(load_settings())), "train", "--config", str(REPO / config), "--domain", "domain.yml",
         "--data", "data", "--out", str(out), "--fixed-model-name", fp],
        cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return model, time.monotonic() - t0


def nlu_accuracy(model: Path, test_file: str, env: dict[str, str], out: Path) -> dict[str, float]:
    """Intent accuracy on the test messages that do not occur in the training data."""
    from bot.nlu_data import write_unseen

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    unseen = out / "unseen.yml"
    write_unseen(REPO / test_file, REPO / "data", unseen)
    subprocess.run(
        [str(rasa_bin(load_settings())), "test", "nlu", "--nlu", str(unseen), "--model", str(model), "--out", str(out)],
        cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    report = json.loads((out / "intent_report.json").read_text())
    return {"accuracy": round(report["accuracy"], 3), "macro_f1": round(report["macro avg"]["f1-score"], 3),
            "n": report["macro avg"]["support"]}  # fmt: skip


def tree_rss_mb(pid: int) -> float:
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
        return sum(x.memory_info().rss for x in procs) / 2**20
    except psutil.NoSuchProcess:
        return float("nan")


def start_rasa(
    model: Path, endpoints: Path, port: int, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen, float]:
    settings = load_settings({**env, "CSBOT_SERVICES__RASA_PORT": str(port)})
    argv = server_command(settings, endpoints, model)  # the same command line `csbot run` uses
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    while not http_ok(f"http://127.0.0.1:{port}/", timeout=0.5):
        if proc.poll() is not None:
            raise RuntimeError(f"rasa exited: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    return proc, time.monotonic() - t0


@functools.cache
def _settings() -> Any:
    return load_settings()


async def converse(client: httpx.AsyncClient, url: str, sender: str, messages: list[str]) -> list[float]:
    """One logged-in customer's conversation (the shop's token on every message, as a real widget sends it)."""
    headers = {"Authorization": f"Bearer {customer_token(_settings(), sender)}"}
    out = []
    for m in messages:
        t0 = time.perf_counter()
        r = await client.post(url, json={"sender": sender, "message": m}, headers=headers)
        r.raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def run_load(base: str, quick: bool) -> dict[str, Any]:
    url = f"{base}/webhooks/rest/webhook"
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await converse(client, url, "warmup", SHORT * 3)
        # 1 sender, many short conversations
        single: list[float] = []
        for i in range(10 if quick else 40):
            single += await converse(client, url, f"s1-{i}", SHORT)
        # one long conversation
        turns = (LONG_CYCLE * 40)[:200]
        long_lat = await converse(client, url, "long-1", turns)
        # 20 concurrent senders, each a series of short conversations
        rounds = 2 if quick else 6
        t0 = time.perf_counter()
        results = await asyncio.gather(*[_sender_series(client, url, j, rounds) for j in range(20)])
        elapsed = time.perf_counter() - t0
    concurrent = [x for r in results for x in r]
    return {
        "single": {"n": len(single), "p50_ms": round(pct(single, 50), 1), "p99_ms": round(pct(single, 99), 1)},
        "long_200": {"first50_p50_ms": round(statistics.median(long_lat[:50]), 1),
                     "last50_p50_ms": round(statistics.median(long_lat[-50:]), 1)},
        "concurrent_20": {"n": len(concurrent), "msg_per_s": round(len(concurrent) / elapsed, 1),
                          "p50_ms": round(pct(concurrent, 50), 1), "p99_ms": round(pct(concurrent, 99), 1)},
    }  # fmt: skip


async def _sender_series(client: httpx.AsyncClient, url: str, j: int, rounds: int) -> list[float]:
    out: list[float] = []
    for k in range(rounds):
        out += await converse(client, url, f"c{j}-{k}-{time.time_ns()}", SHORT)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--quick", action="store_true", help="fewer turns (smoke run)")
    ap.add_argument("--no-nlu", action="store_true", help="skip the accuracy evaluation")
    args = ap.parse_args()

    settings = load_settings()
    home = settings.home / "bench"
    home.mkdir(parents=True, exist_ok=True)
    env = child_env(settings)
    # the limits stay on (their cost is part of the measure) but this load generator must never reach them
    env.update({"CSBOT_RATE_LIMIT__PER_CONVERSATION": "1000000/10s", "CSBOT_RATE_LIMIT__PER_IP": "1000000/10s"})
    ports = {"actions": free_port(), "orders": free_port(), "knowledge": free_port()}
    env.update({f"CSBOT_SERVICES__{k.upper()}_PORT": str(v) for k, v in ports.items()})
    py = str(REPO / ".venv" / "bin" / "python")
    sup = Supervisor([
        ServiceSpec("orders", [py, "-m", "bot.orders.demo_server"], ports["orders"],
                    f"http://127.0.0.1:{ports['orders']}/health", env=env, cwd=REPO),
        ServiceSpec("knowledge", [py, "-m", "knowledge"], ports["knowledge"],
                    f"http://127.0.0.1:{ports['knowledge']}/health", env=env, cwd=REPO, start_timeout=60),
        ServiceSpec("actions", [py, "-m", "actions.server"],
                    ports["actions"], f"http://127.0.0.1:{ports['actions']}/health", env=env, cwd=REPO),
    ], run_dir=home / "run", log_dir=home / "logs", say=lambda m: None)  # fmt: skip
    results = []
    try:
        if not sup.start_all():
            raise SystemExit("action server failed to start; see " + str(home / "logs"))
        for config in args.configs.split(","):
            name = Path(config).stem
            print(f"== {config}", flush=True)
            model, train_s = train(config, home, env)
            row: dict[str, Any] = {"config": config, "train_s": None if train_s is None else round(train_s, 1)}
            if not args.no_nlu:
                for tf in TEST_FILES:
                    if (REPO / tf).is_file():
                        row[Path(tf).stem] = nlu_accuracy(model, tf, env, home / "nlu" / name)
            db = home / f"trackers-{name}.db"
            db.unlink(missing_ok=True)
            endpoints = home / f"endpoints-{name}.yml"
            endpoints.write_text(yaml.safe_dump({
                "action_endpoint": {"url": f"http://127.0.0.1:{ports['actions']}/webhook",
                                    "headers": {"Authorization": f"Bearer {actions_api_key(settings)}"}},
                # the same store `csbot run` configures by default (windowed SQL on SQLite)
                "tracker_store": {"type": WINDOWED_SQL_STORE, "window_turns": 20, "dialect": "sqlite", "db": str(db)},
            }))  # fmt: skip
            port = free_port()
            proc, cold = start_rasa(model, endpoints, port, env, home / "logs" / f"rasa-{name}.log")
            try:
                row["cold_start_s"] = round(cold, 1)
                row.update(asyncio.run(run_load(f"http://127.0.0.1:{port}", args.quick)))
                row["rss_mb"] = round(tree_rss_mb(proc.pid))
            finally:
                os.killpg(proc.pid, 15)
                proc.wait(timeout=30)
            print(json.dumps(row, ensure_ascii=False), flush=True)
            results.append(row)
    finally:
        sup.stop_all()
    print(json.dumps({"machine": f"{os.cpu_count()} cores, {platform.machine()}, "
                      f"{psutil.virtual_memory().total / 2**30:.0f} GiB", "results": results},
                     ensure_ascii=False, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
