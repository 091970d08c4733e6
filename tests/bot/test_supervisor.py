"""The supervisor behind `csbot run`, with small real child processes."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot.cli.supervisor import PortInUse, ServiceSpec, Supervisor, pid_alive, read_status

from ..conftest import free_port

# A child that serves /health and starts a grandchild, so stopping must reach the whole process group.
CHILD = textwrap.dedent(
    """
    import http.server, os, subprocess, sys, time
    port, pidfile, die_after = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    grand = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open(pidfile, "a") as f:
        f.write(f"{os.getpid()} {grand.pid}\\n")
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    srv = http.server.HTTPServer(("127.0.0.1", port), H)
    srv.timeout = 0.1
    start = time.time()
    while die_after <= 0 or time.time() - start < die_after:
        srv.handle_request()
    sys.exit(3)
    """
)


def spec(tmp_path: Path, name: str, die_after: float = 0) -> tuple[ServiceSpec, Path]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    port = free_port()
    pidfile = tmp_path / f"{name}.pids"
    argv = [sys.executable, str(script), str(port), str(pidfile), str(die_after)]
    url = f"http://127.0.0.1:{port}/"
    return ServiceSpec(name=name, argv=argv, port=port, health_url=url, start_timeout=20), pidfile


def all_pids(pidfile: Path) -> list[int]:
    return [int(p) for line in pidfile.read_text().split("\n") if line for p in line.split()]


def wait_until(cond, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def test_start_ready_stop_leaves_no_orphans(tmp_path: Path) -> None:
    (a, a_pids), (b, b_pids) = spec(tmp_path, "a"), spec(tmp_path, "b")
    sup = Supervisor([a, b], run_dir=tmp_path / "run", log_dir=tmp_path / "logs", say=lambda m: None)
    sup.check_ports()
    assert sup.start_all()
    status = read_status(tmp_path / "run")
    assert status and {s["state"] for s in status["services"].values()} == {"ready"}
    pids = all_pids(a_pids) + all_pids(b_pids)
    assert len(pids) == 4 and all(pid_alive(p) for p in pids)
    sup.stop_all(grace=5)
    assert wait_until(lambda: not any(pid_alive(p) for p in pids), 10), "children or grandchildren survived"
    assert read_status(tmp_path / "run")["stopped"] is True


def test_crashed_child_is_restarted_and_reported(tmp_path: Path) -> None:
    s, pids = spec(tmp_path, "flaky", die_after=1.0)
    sup = Supervisor([s], run_dir=tmp_path / "run", log_dir=tmp_path / "logs", say=lambda m: None, max_backoff=0.5)
    assert sup.start_all()

    def restarted() -> bool:
        sup.poll_once()
        st = json.loads((tmp_path / "run" / "status.json").read_text())["services"]["flaky"]
        return st["restarts"] >= 1 and st["state"] == "ready"

    assert wait_until(restarted, 20)
    st = read_status(tmp_path / "run")["services"]["flaky"]
    assert st["last_exit"] == 3
    assert "--- start" in (tmp_path / "logs" / "flaky.log").read_text()
    sup.stop_all(grace=5)
    assert wait_until(lambda: not any(pid_alive(p) for p in all_pids(pids)), 10)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    s, _ = spec(tmp_path, "rasa")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", s.port))
        blocker.listen()
        sup = Supervisor([s], run_dir=tmp_path / "run", log_dir=tmp_path / "logs", say=lambda m: None)
        with pytest.raises(PortInUse, match=rf"port {s.port} \(rasa\) is already in use.*services.rasa_port"):
            sup.check_ports()


def test_child_failing_at_start_is_reported(tmp_path: Path) -> None:
    bad = ServiceSpec(name="bad", argv=[sys.executable, "-c", "import sys; sys.exit(4)"], port=free_port(),
                      health_url="http://127.0.0.1:9/", start_timeout=10)  # fmt: skip
    said: list[str] = []
    sup = Supervisor([bad], run_dir=tmp_path / "run", log_dir=tmp_path / "logs", say=said.append)
    assert not sup.start_all()
    assert any("exited with code 4" in m for m in said)
    sup.stop_all()
    assert os.path.exists(tmp_path / "logs" / "bad.log")


def test_a_port_held_by_a_program_that_does_not_speak_http_is_not_ready_and_says_so() -> None:
    # a gRPC server (HTTP/2 frames) where the service should be: csbot run must keep waiting and say why,
    # not die with a traceback (CI saw BadStatusLine when the session's Milvus took a platform's port)
    import socket
    import threading

    from bot.cli.supervisor import health_error, http_ok

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def answer_in_binary() -> None:
        conn, _ = server.accept()
        conn.recv(1024)
        conn.sendall(b"\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x40\x00\xfe\r\n")
        conn.close()

    threading.Thread(target=answer_in_binary, daemon=True).start()
    try:
        why = health_error(f"http://127.0.0.1:{port}/health", timeout=5)
        assert "another program on this port" in why
        assert not http_ok(f"http://127.0.0.1:{port}/health", timeout=1)
    finally:
        server.close()
