"""Start the real platform (`csbot run`) in a temporary home on free ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.cli.supervisor import pid_alive
from bot.settings import load_settings

from .conftest import REPO, free_port

CSBOT = str(REPO / ".venv" / "bin" / "csbot")


def trained_models_dir() -> Path:
    """The model `make test` trained (csbot setup) in the developer's/CI's CSBOT_HOME; trained here if missing."""
    s = load_settings()
    if not (s.models_dir / "csbot.tar.gz").is_file():
        subprocess.run([CSBOT, "setup"], check=True, cwd=REPO)
    return s.models_dir


@dataclass
class Platform:
    home: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes]
    ports: dict[str, int]

    @property
    def rasa_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['rasa']}"

    def say(self, sender: str, text: str, metadata: dict | None = None, customer: str | None = None) -> list[dict]:
        """One message over the REST channel; ``customer``: logged in as this demo-shop customer (a token the
        shop signs), else anonymous with ``sender`` as the conversation id."""
        body: dict = {"sender": sender, "message": text}
        if metadata:
            body["metadata"] = metadata
        headers = {"Authorization": f"Bearer {self.customer_token(customer)}"} if customer else {}
        r = httpx.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body, headers=headers, timeout=30)
        r.raise_for_status()
        return r.json()

    def text(self, sender: str, text: str, customer: str | None = None) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, text, customer=customer))

    def customer_token(self, customer: str, minutes: float = 60) -> str:
        from bot.identity import customer_token

        return customer_token(load_settings(self.env), customer, minutes=minutes)

    def rasa_api(self) -> dict[str, str]:
        from bot.rasa_env import rasa_api_headers

        return rasa_api_headers(load_settings(self.env))

    def status(self) -> dict:
        return json.loads((self.home / "run" / "status.json").read_text())

    def child_pids(self) -> list[int]:
        return [s["pid"] for s in self.status()["services"].values() if s["pid"]]

    def stop(self, timeout: float = 40) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=timeout)


# Another program took a port between free_port() and the service binding it (the session's Milvus server starts
# gRPC listeners of its own): start again on new ports, once.
PORT_TAKEN = ("another program on this port", "already in use", "Errno 98")


def start_platform(tmp: Path, extra_env: dict[str, str] | None = None, timeout: float = 240) -> Platform:
    try:
        return _start_platform(tmp, extra_env, timeout)
    except RuntimeError as exc:
        logs = str(exc) + "".join(f.read_text(errors="replace") for f in (tmp / "home" / "logs").glob("*.log"))
        if not any(sign in logs for sign in PORT_TAKEN):
            raise
        return _start_platform(tmp, extra_env, timeout)


def _start_platform(tmp: Path, extra_env: dict[str, str] | None, timeout: float) -> Platform:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copytree(trained_models_dir(), home / "models", dirs_exist_ok=True)
    ports = {name: free_port() for name in ("rasa", "actions", "handoff", "orders", "knowledge", "archive")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    env["CSBOT_HOME"] = str(home)
    for name, port in ports.items():
        env[f"CSBOT_SERVICES__{name.upper()}_PORT"] = str(port)
    env.update(extra_env or {})
    subprocess.run([CSBOT, "db", "upgrade"], env=env, cwd=REPO, check=True, capture_output=True)
    subprocess.run([CSBOT, "kb", "seed"], env=env, cwd=REPO, check=True, capture_output=True)
    log = (tmp / "csbot-run.log").open("wb")
    proc = subprocess.Popen([CSBOT, "run", "--no-setup"], env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    p = Platform(home=home, env=env, proc=proc, ports=ports)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"csbot run exited {proc.returncode}: {(tmp / 'csbot-run.log').read_text()[-3000:]}")
        try:
            if "csbot is up" in (tmp / "csbot-run.log").read_text():
                return p
        except OSError:
            pass
        time.sleep(0.5)
    p.stop()
    raise TimeoutError("platform did not come up: " + (tmp / "csbot-run.log").read_text()[-3000:])


def assert_all_gone(pids: list[int], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    alive = [p for p in pids if pid_alive(p)]
    assert not alive, f"orphan processes left behind: {alive}"
