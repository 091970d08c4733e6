"""The containers' own commands run here as a container would run them: the setup job on the machine's MariaDB with
its files in S3 (moto's S3 server on localhost: a fake of the outside object store at its wire boundary), the
health probe against a real service, and the Rasa image's entry point starting a real Rasa server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.storage import migrate

from ..conftest import REPO, free_port
from ..platform import trained_models_dir

PY = str(REPO / ".venv" / "bin" / "python")
RASA_PY = str(REPO / ".venv-rasa" / "bin" / "python")
SECRET = "deploy-test-secret-0123456789"


def container_env(home: Path, **settings: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSBOT_")}
    base["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{base.get('PATH', '')}"  # `csbot` on PATH, as in the image
    return {**base, "CSBOT_HOME": str(home), "CSBOT_SECURITY__JWT_SECRET": SECRET, "RASA_TELEMETRY_ENABLED": "false",
            **{f"CSBOT_{k.upper()}": v for k, v in settings.items()}}  # fmt: skip


def run(argv: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.mark.mariadb
def test_setup_job_leaves_what_the_containers_need(tmp_path: Path, mariadb_url: str, s3_endpoint: str) -> None:
    env = container_env(tmp_path / "home", database__url=mariadb_url, files__type="s3", files__bucket="csbot-files",
                        files__endpoint_url=s3_endpoint, files__access_key="k", files__secret_key="s")  # fmt: skip
    job = [PY, "deploy/setup_job.py"]
    started = time.monotonic()
    waited = run([*job, "--wait", "1"], env)
    assert waited.returncode == 1 and "not set up" in waited.stderr  # an empty database: the pods keep waiting
    assert time.monotonic() - started < 60

    first = run([*job, "--no-seed"], env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "file bucket csbot-files ready" in first.stdout and "live version" in first.stdout
    engine = create_engine(mariadb_url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            kind = conn.execute(text(
                "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'events' AND COLUMN_NAME = 'timestamp'"
            )).scalar()  # fmt: skip
            assert kind == "double"  # Rasa's own table would have a 4-byte FLOAT
            live = conn.execute(text("SELECT COUNT(*) FROM cs_kb_index_version WHERE status = 'live'")).scalar()
            assert live == 1
    finally:
        engine.dispose()
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="k",
                      aws_secret_access_key="s")  # fmt: skip
    s3.head_bucket(Bucket="csbot-files")

    again = run([*job, "--no-seed"], env)  # idempotent: after an upgrade the same job runs again
    assert again.returncode == 0, again.stderr[-2000:]
    assert "live version" in again.stdout
    ready = run([*job, "--wait", "30"], env)
    assert ready.returncode == 0 and "set up" in ready.stdout


def test_probe_follows_the_service_up_and_down(tmp_path: Path) -> None:
    port = free_port()
    env = container_env(tmp_path / "home", services__orders_port=str(port))
    assert run([PY, "-m", "bot.cli.main", "db", "upgrade"], env).returncode == 0  # the worker-id lease table
    probe = [PY, "deploy/probe.py", "orders"]
    down = run(probe, env, timeout=30)
    assert down.returncode == 1 and f"127.0.0.1:{port}/health" in down.stderr
    assert run([PY, "deploy/probe.py", "nginx"], env, timeout=30).returncode == 2
    proc = subprocess.Popen([PY, "-m", "bot.orders.demo_server"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while run(probe, env, timeout=30).returncode != 0:
            assert proc.poll() is None and time.monotonic() < deadline, "the demo shop never became healthy"
            time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    assert run(probe, env, timeout=30).returncode == 1


@pytest.mark.rasa
@pytest.mark.slow
def test_rasa_entrypoint_becomes_the_server_and_turns_ready(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = container_env(home, services__rasa_port=str(free_port()), services__handoff_port=str(free_port()))
    assert run([PY, "-m", "bot.cli.main", "db", "upgrade"], env).returncode == 0
    missing = run([RASA_PY, "deploy/start_rasa.py", "--model", str(tmp_path / "none.tar.gz")], env, timeout=120)
    assert missing.returncode == 2 and "no model at" in missing.stderr

    model = trained_models_dir() / "csbot.tar.gz"
    log = (tmp_path / "rasa.log").open("wb")
    proc = subprocess.Popen([RASA_PY, "deploy/start_rasa.py", "--model", str(model)], env=env, cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    probe = [sys.executable, "deploy/probe.py", "rasa"]
    try:
        deadline = time.monotonic() + 400
        while run(probe, env, timeout=30).returncode != 0:
            assert proc.poll() is None, (tmp_path / "rasa.log").read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "Rasa never answered /status"
            time.sleep(2)
        # the entry point replaced itself: the process we started IS the server (it gets the container's SIGTERM)
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"channels.server" in cmdline and str(model).encode() in cmdline
        assert "HandoffEventBroker" in (home / "endpoints.yml").read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        log.close()
    assert run(probe, env, timeout=30).returncode == 1
