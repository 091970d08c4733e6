"""Two instances of every platform service behind one local load balancer, on real engines (MariaDB, Redis,
a Milvus standalone server, Kafka- and Elasticsearch-wire servers), for the scale-out fault test.

Every instance is told the balancer's ports for the other services and its own port for itself, so a call
between services always goes through the balancer, the way it does in a deployment (deploy/).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot.cli.supervisor import http_ok
from bot.rasa_env import app_python, child_env, render_endpoints, server_command
from bot.settings import Settings, load_settings

from .conftest import REPO, free_port
from .loadbalancer import LoadBalancer, Pool
from .platform import trained_models_dir

BALANCED = ("rasa", "actions", "knowledge", "handoff")
COMMANDS = {"knowledge": ["-m", "knowledge"], "actions": ["-m", "actions.server"], "handoff": ["-m", "handoff"],
            "archive": ["-m", "handoff.archive"], "orders": ["-m", "bot.orders.demo_server"]}  # fmt: skip


@dataclass
class Instance:
    service: str
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    argv: list[str]
    env: dict[str, str]

    @property
    def health(self) -> str:
        return f"http://127.0.0.1:{self.port}" + ("/" if self.service == "rasa" else "/health")

    def kill(self) -> None:
        """kill -9, the whole process group (what a crashed host does to it)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def restart(self) -> None:
        """Start it again on the same port with the same settings (what a supervisor does after a crash)."""
        self.proc = spawn(self.argv, self.env, self.log)


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


@dataclass
class Cluster:
    env: dict[str, str]
    settings: Settings
    lb: LoadBalancer
    instances: dict[str, Instance] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return self.settings.services.url(service)

    def error_lines(self, limit: int = 12) -> dict[str, list[str]]:
        """The last error and warning lines of each instance's log, for whoever reads a failure."""
        marks = ("ERROR", "WARNING", "Traceback", "Exception", "exited")
        out: dict[str, list[str]] = {}
        for inst in self.instances.values():
            lines = inst.log.read_text(errors="replace").splitlines() if inst.log.exists() else []
            hits = [line[:300] for line in lines if any(m in line for m in marks)]
            if hits:
                out[inst.name] = hits[-limit:]
        return out

    def stop(self) -> None:
        for inst in self.instances.values():
            if inst.proc.poll() is None:
                os.killpg(inst.proc.pid, signal.SIGTERM)
        for inst in self.instances.values():
            try:
                inst.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(inst.proc.pid, signal.SIGKILL)
        self.lb.stop()


def start_cluster(tmp: Path, env: dict[str, str], replicas: int = 2, timeout: float = 420) -> Cluster:
    """``env``: the CSBOT_* settings of the engines. Migrates, seeds the sample KB, starts everything and waits
    until every instance answers its health check."""
    pools = {name: Pool(name, 0, []) for name in BALANCED}
    lb = LoadBalancer(list(pools.values())).start()
    fronts = {name: pool.front for name, pool in pools.items()}
    shutil.copytree(trained_models_dir(), Path(env["CSBOT_HOME"]) / "models", dirs_exist_ok=True)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}, **env}
    for name, port in {**fronts, "orders": free_port(), "archive": free_port()}.items():
        env[f"CSBOT_SERVICES__{name.upper()}_PORT"] = str(port)
    csbot = str(REPO / ".venv" / "bin" / "csbot")
    for step in (["db", "upgrade"], ["kb", "seed"]):
        done = subprocess.run([csbot, *step], env=env, cwd=REPO, capture_output=True, text=True)
        if done.returncode != 0:
            lb.stop()
            raise RuntimeError(f"csbot {' '.join(step)}: {done.stdout[-2000:]}{done.stderr[-2000:]}")
    settings = load_settings(env)
    endpoints = render_endpoints(settings)
    cluster = Cluster(env, settings, lb)

    relaunched: dict[str, int] = {}

    def launch(service: str, name: str, port: int | None) -> None:
        port = port or free_port()  # never one handed out before in this run (tests/conftest.py)
        own = {**env, f"CSBOT_SERVICES__{service.upper()}_PORT": str(port)}
        if service == "archive":  # Kafka static membership: a restarted archive takes its partitions back
            own["CSBOT_EVENTS__INSTANCE_ID"] = name
        s = load_settings(own)
        argv = server_command(s, endpoints) if service == "rasa" else [str(app_python(s)), *COMMANDS[service]]
        log, child = tmp / f"{name}.log", {**child_env(s), **own}
        cluster.instances[name] = Instance(service, name, port, spawn(argv, child, log), log, argv, child)
        if service in pools:
            pools[service].backends.append(port)

    def relaunch(inst: Instance) -> bool:
        """A free port can be taken by another process before the instance binds it: start it on another one."""
        if inst.service == "orders" or relaunched.get(inst.name, 0) >= 3:  # orders' port is in everyone's settings
            return False
        if b"address already in use" not in inst.log.read_bytes():
            return False
        relaunched[inst.name] = relaunched.get(inst.name, 0) + 1
        if inst.service in pools:
            pools[inst.service].backends.remove(inst.port)
        launch(inst.service, inst.name, None)
        return True

    launch("orders", "orders", settings.services.orders_port)
    for service in ("knowledge", "actions", "handoff", "archive", "rasa"):
        for i in range(replicas):
            launch(service, f"{service}-{'ab'[i]}", None)
    deadline = time.monotonic() + timeout
    waiting = set(cluster.instances)
    while waiting:
        for name in sorted(waiting):
            inst = cluster.instances[name]
            if inst.proc.poll() is not None:
                if relaunch(inst):
                    continue
                cluster.stop()
                raise RuntimeError(f"{name} exited {inst.proc.returncode}: {inst.log.read_text()[-3000:]}")
            if http_ok(inst.health, timeout=1):
                waiting.discard(name)
        if time.monotonic() > deadline:
            cluster.stop()
            raise TimeoutError(f"not up after {timeout:.0f} s: {sorted(waiting)}")
        time.sleep(1)
        if not waiting:
            # an instance that lost its port may have looked healthy through whoever holds it: look again
            time.sleep(2)
            waiting = {name for name, inst in cluster.instances.items() if inst.proc.poll() is not None}
    return cluster
