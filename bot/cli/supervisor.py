"""Process supervisor behind ``csbot run``: start every service, health-check, restart on crash, stop cleanly.

Each child gets its own process group so that Ctrl-C / SIGTERM takes down grandchildren too (Rasa and the
action server spawn workers). State is written to ``$CSBOT_HOME/run/status.json`` for ``csbot status``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import CsbotError
from bot.lifeline import ENV

UNHEALTHY_CHECKS = 3


class PortInUse(CsbotError):
    pass


@dataclass
class ServiceSpec:
    name: str
    argv: list[str]
    port: int
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    start_timeout: float = 120.0
    # headers for the health check (the Rasa API needs a JWT); called per check so tokens stay fresh
    health_headers: Callable[[], dict[str, str]] | None = None


@dataclass
class ServiceState:
    spec: ServiceSpec
    proc: subprocess.Popen[bytes] | None = None
    state: str = "stopped"  # starting | ready | crashed | stopped
    restarts: int = 0
    last_exit: int | None = None
    started_at: float = 0.0
    next_restart_at: float = 0.0
    failed_checks: int = 0
    next_check_at: float = 0.0
    health_error: str = ""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def http_ok(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> bool:
    return health_error(url, timeout, headers) == ""


def health_error(url: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> str:
    """"" when ``url`` answers 2xx, else why not (the status and the start of the body, or the error)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as resp:
            return "" if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        body = exc.read(200).decode("utf-8", "replace").replace("\n", " ")
        return f"HTTP {exc.code} {body}".strip()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return str(getattr(exc, "reason", exc))
    except http.client.HTTPException as exc:  # not HTTP at all: another program holds the port
        return f"not an HTTP answer ({type(exc).__name__}): is another program on this port?"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Supervisor:
    def __init__(
        self,
        specs: list[ServiceSpec],
        run_dir: Path,
        log_dir: Path,
        host: str = "127.0.0.1",
        say: Callable[[str], None] = print,
        max_backoff: float = 30.0,
        check_every: float = 5.0,
    ) -> None:
        self.services = [ServiceState(spec) for spec in specs]
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.host = host
        self.say = say
        self.max_backoff = max_backoff
        self.check_every = check_every
        self._stopping = False
        self.status_file = run_dir / "status.json"

    # --- lifecycle -------------------------------------------------------------------------------
    def check_ports(self) -> None:
        for svc in self.services:
            if not port_is_free(self.host, svc.spec.port):
                raise PortInUse(
                    f"port {svc.spec.port} ({svc.spec.name}) is already in use on {self.host}; stop the other "
                    f"process or set services.{svc.spec.name}_port"
                )

    def _spawn(self, svc: ServiceState) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{svc.spec.name}.log").open("ab")
        log.write(f"\n--- start {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n".encode())
        log.flush()
        svc.proc = subprocess.Popen(
            svc.spec.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**(svc.spec.env or os.environ), ENV: str(os.getpid())},  # bot.lifeline: die with us
            cwd=svc.spec.cwd,
            start_new_session=True,
        )
        log.close()  # the child holds its own descriptor
        svc.state = "starting"
        svc.started_at = time.monotonic()
        self._write_status()

    def start_all(self, wait_ready: bool = True) -> bool:
        """Start services in order; each must be healthy before the next starts (Rasa needs the actions)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for svc in self.services:
            self._spawn(svc)
            if wait_ready and not self._wait_ready(svc):
                return False
        return True

    def _wait_ready(self, svc: ServiceState) -> bool:
        deadline = time.monotonic() + svc.spec.start_timeout
        while time.monotonic() < deadline and not self._stopping:
            assert svc.proc is not None
            code = svc.proc.poll()
            if code is not None:
                svc.state, svc.last_exit = "crashed", code
                self._write_status()
                self.say(f"[red]{svc.spec.name} exited with code {code} while starting; see "
                         f"{self.log_dir / (svc.spec.name + '.log')}[/red]")
                return False
            if self._healthy(svc, timeout=2.0):
                svc.state = "ready"
                self._write_status()
                took = time.monotonic() - svc.started_at
                self.say(f"[green]✓[/green] {svc.spec.name} ready in {took:.1f}s ({svc.spec.health_url})")
                return True
            time.sleep(0.25)
        if not self._stopping:
            self.say(f"[red]{svc.spec.name} not healthy after {svc.spec.start_timeout:.0f}s[/red]")
        return False

    def _healthy(self, svc: ServiceState, timeout: float) -> bool:
        headers = svc.spec.health_headers() if svc.spec.health_headers else None
        svc.health_error = health_error(svc.spec.health_url, timeout, headers)
        return svc.health_error == ""

    def _check_ready(self, svc: ServiceState, now: float) -> None:
        """A running service that stops being healthy (Rasa without a model, a KB without a live index) is
        restarted after ``UNHEALTHY_CHECKS`` failed checks in a row, as if it had crashed."""
        if now < svc.next_check_at:
            return
        svc.next_check_at = now + self.check_every
        if self._healthy(svc, timeout=2.0):
            svc.failed_checks = 0
            return
        svc.failed_checks += 1
        self._write_status()
        if svc.failed_checks >= UNHEALTHY_CHECKS and svc.proc is not None:
            self.say(f"[red]{svc.spec.name} unhealthy ({svc.health_error}); restarting[/red]")
            self._kill_group(svc.proc, signal.SIGKILL)
            svc.proc.wait(timeout=10)
            svc.failed_checks = 0
            svc.state, svc.last_exit = "crashed", svc.proc.returncode
            svc.next_restart_at = now
            self._write_status()

    def poll_once(self) -> None:
        """One supervision tick: notice exits, restart with exponential backoff, promote healthy ones, and
        restart ready ones that stay unhealthy."""
        now = time.monotonic()
        for svc in self.services:
            proc = svc.proc
            if svc.state == "crashed":
                if now >= svc.next_restart_at and not self._stopping:
                    svc.restarts += 1
                    self.say(f"[yellow]restarting {svc.spec.name} (restart #{svc.restarts})[/yellow]")
                    self._spawn(svc)
                continue
            if proc is None:
                continue
            code = proc.poll()
            if code is not None:
                svc.state, svc.last_exit = "crashed", code
                backoff = min(self.max_backoff, 2.0 ** min(svc.restarts, 5))
                svc.next_restart_at = now + backoff
                self.say(f"[red]{svc.spec.name} died (exit {code}); restarting in {backoff:.0f}s[/red]")
                self._kill_group(proc)  # leftover grandchildren
                self._write_status()
            elif svc.state == "starting" and self._healthy(svc, timeout=0.5):
                svc.state = "ready"
                svc.next_check_at = now + self.check_every
                self.say(f"[green]✓[/green] {svc.spec.name} ready again")
                self._write_status()
            elif svc.state == "ready":
                self._check_ready(svc, now)

    def run_forever(self, tick: float = 0.5) -> None:
        while not self._stopping:
            self.poll_once()
            time.sleep(tick)

    def request_stop(self, *_: Any) -> None:
        self._stopping = True

    @property
    def stopping(self) -> bool:
        return self._stopping

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def stop_all(self, grace: float = 10.0) -> None:
        """SIGTERM every process group (reverse order), SIGKILL what is left after ``grace`` seconds."""
        self._stopping = True
        live = [s for s in reversed(self.services) if s.proc is not None]
        for svc in live:
            assert svc.proc is not None
            self._kill_group(svc.proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for svc in live:
            assert svc.proc is not None
            try:
                svc.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"[yellow]{svc.spec.name} ignored SIGTERM; killing[/yellow]")
            # Always sweep the group: workers may outlive their parent.
            self._kill_group(svc.proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                svc.proc.wait(timeout=5)
            svc.state = "stopped"
        self._write_status(stopped=True)

    # --- status file -------------------------------------------------------------------------------
    def _write_status(self, stopped: bool = False) -> None:
        data = {
            "supervisor_pid": os.getpid(),
            "stopped": stopped,
            "updated_at": time.time(),
            "services": {
                s.spec.name: {
                    "pid": s.proc.pid if s.proc else None,
                    "state": s.state,
                    "restarts": s.restarts,
                    "last_exit": s.last_exit,
                    "health_url": s.spec.health_url,
                    "health_error": s.health_error,
                    "failed_checks": s.failed_checks,
                    "log": str(self.log_dir / f"{s.spec.name}.log"),
                }
                for s in self.services
            },
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.status_file)


def read_status(run_dir: Path) -> dict[str, Any] | None:
    f = run_dir / "status.json"
    if not f.is_file():
        return None
    try:
        return json.loads(f.read_text())
    except json.JSONDecodeError:
        return None
