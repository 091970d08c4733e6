"""Wire-protocol servers the tests and benchmarks start themselves: noida-db speaking Kafka (platform-facts:
no Apache Kafka installs here). These prove the client code speaks the protocol; they are not a real cluster."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import free_port


def noida_binary() -> str:
    # the server binary itself, not the Python console script: terminating a wrapper would orphan it
    import noida_db

    binary = Path(noida_db.__file__).resolve().parent / "noida-db"
    return str(binary) if binary.is_file() else (shutil.which("noida-db") or "noida-db")


class KafkaWire:
    """A Kafka-wire broker on a free port with its data in ``data``; restartable on the same port and data."""

    def __init__(self, data: Path, port: int | None = None) -> None:
        self.data, self.port = data, port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> KafkaWire:
        self.data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([noida_binary(), "start", "--data-dir", str(self.data), "--host", "127.0.0.1",
                                      "--only", "kafka", "--kafka-port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("noida-db (Kafka wire) did not start") from None
                time.sleep(0.1)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextmanager
def elasticsearch_wire(data: Path, timeout: float = 30) -> Iterator[str]:
    """An Elasticsearch-wire server (noida-db) on a free port with its data in ``data``; yields its URL."""
    import httpx

    port = free_port()
    proc = subprocess.Popen([noida_binary(), "start", "--data-dir", str(data), "--host", "127.0.0.1", "--only",
                             "elasticsearch", "--elasticsearch-port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("noida-db (Elasticsearch wire) did not start")
        time.sleep(0.2)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
