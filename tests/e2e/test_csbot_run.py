"""`csbot run` on the embedded defaults: up, answering, self-healing, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from ..conftest import REPO
from ..platform import CSBOT, Platform, assert_all_gone, start_platform

pytestmark = [pytest.mark.rasa, pytest.mark.slow]


def wait_restarted(p: Platform, service: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = p.status()["services"][service]
        if st["restarts"] >= 1 and st["state"] == "ready":
            return
        time.sleep(0.5)
    pytest.fail(f"{service} not restarted: {p.status()['services'][service]}")


def test_run_answers_restarts_a_dead_child_and_stops_without_orphans(tmp_path: Path) -> None:
    p = start_platform(tmp_path)
    try:
        assert "帮您" in p.text("run-1", "你好")
        status = subprocess.run([CSBOT, "status", "--json"], env=p.env, cwd=REPO, capture_output=True, text=True)
        assert status.returncode == 0, status.stdout + status.stderr
        info = json.loads(status.stdout)
        assert info["running"]
        assert {s["name"] for s in info["services"]} == {"orders", "knowledge", "actions", "handoff", "archive", "rasa"}
        assert all(s["healthy"] for s in info["services"])

        # kill the action server: the supervisor must notice, restart it and say so in `csbot status`
        actions_pid = p.status()["services"]["actions"]["pid"]
        os.killpg(actions_pid, signal.SIGKILL)
        wait_restarted(p, "actions", 60)
        status = subprocess.run([CSBOT, "status"], env=p.env, cwd=REPO, capture_output=True, text=True)
        assert "actions" in status.stdout and "│ 1 " in status.stdout.split("actions", 1)[1].splitlines()[0]
        assert "订单" in p.text("run-1", "查下订单250316084512367890", customer="u1002")  # actions work again

        # terminal chat, driven through stdin like a person typing, logged in as a demo-shop customer
        chat = subprocess.run([CSBOT, "chat", "--customer", "u1001"], env=p.env, cwd=REPO, capture_output=True,
                              text=True, input="订单250212075519846031发货了吗\n/quit\n", timeout=60)  # fmt: skip
        assert chat.returncode == 0, chat.stderr
        assert "京东物流" in chat.stdout

        pids = p.child_pids()
    finally:
        code = p.stop()
    assert code == 0
    assert_all_gone(pids)
    assert json.loads((p.home / "run" / "status.json").read_text())["stopped"] is True


def test_second_run_in_same_home_and_port_clash_are_refused(tmp_path: Path) -> None:
    p = start_platform(tmp_path)
    try:
        again = subprocess.run([CSBOT, "run", "--no-setup"], env=p.env, cwd=REPO, capture_output=True, text=True,
                               timeout=60)  # fmt: skip
        assert again.returncode == 1
        assert "already running" in again.stderr
        other = dict(p.env, CSBOT_HOME=str(tmp_path / "other"))
        clash = subprocess.run([CSBOT, "run", "--no-setup"], env=other, cwd=REPO, capture_output=True, text=True,
                               timeout=60)  # fmt: skip
        assert clash.returncode == 1
        assert "already in use" in clash.stderr and "Traceback" not in clash.stderr
    finally:
        p.stop()


def test_health_means_serving_and_kill_9_of_the_supervisor_leaves_no_child(tmp_path: Path) -> None:
    p = start_platform(tmp_path)
    try:
        # Rasa without a model answers every message with nothing: health must say so, and the supervisor heals it
        assert httpx.delete(f"{p.rasa_url}/model").status_code == 401  # the API is locked
        assert httpx.delete(f"{p.rasa_url}/model", headers=p.rasa_api()).status_code == 204
        status = subprocess.run([CSBOT, "status"], env=p.env, cwd=REPO, capture_output=True, text=True)
        assert status.returncode == 1 and "down" in status.stdout.split("rasa", 1)[1].splitlines()[0]
        wait_restarted(p, "rasa", 150)
        assert "帮您" in p.text("health-1", "你好")
        ok = subprocess.run([CSBOT, "status", "--json"], env=p.env, cwd=REPO, capture_output=True, text=True)
        assert ok.returncode == 0 and all(s["healthy"] for s in json.loads(ok.stdout)["services"])

        # however the supervisor dies, its children die with it
        pids = p.child_pids()
        assert len(pids) == 6
        os.kill(p.proc.pid, signal.SIGKILL)
        assert_all_gone(pids, timeout=15)
    finally:
        if p.proc.poll() is None:
            p.stop()
