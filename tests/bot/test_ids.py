from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy import select as sql_select

from bot import ids
from bot.cli.supervisor import ServiceSpec, Supervisor
from bot.errors import CsbotError
from bot.ids import EPOCH_MS, MAX_SEQUENCE, ClockMovedBackwards, Snowflake, parse
from bot.settings import load_settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.worker_lease import LEASES, LeasedSnowflake

from ..conftest import REPO, free_port


class FakeClock:
    """A controllable wall clock (time is an input of the generator, not a backend)."""

    def __init__(self, start: int) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(1, int(seconds * 1000))


@given(worker=st.integers(0, 1023), steps=st.lists(st.integers(-3, 5), min_size=1, max_size=300))
@settings(max_examples=200, deadline=None)
def test_ids_unique_increasing_and_decodable(worker: int, steps: list[int]) -> None:
    clock = FakeClock(EPOCH_MS + 10_000)
    gen = Snowflake(worker, clock=clock, sleep=clock.sleep, max_backwards_ms=10)
    ids = []
    for step in steps:
        clock.now += step  # includes small backwards steps, which must be waited out
        ids.append(gen.next_id())
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for i in ids:
        parts = parse(i)
        assert parts.worker_id == worker
        assert 0 < i < 2**63


def test_sequence_exhaustion_waits_for_next_millisecond() -> None:
    ticks = iter([EPOCH_MS + 5] * (MAX_SEQUENCE + 2) + [EPOCH_MS + 6] * 10)
    gen = Snowflake(1, clock=lambda: next(ticks))
    ids = [gen.next_id() for _ in range(MAX_SEQUENCE + 2)]
    assert len(set(ids)) == len(ids)
    assert parse(ids[-1]).timestamp_ms == EPOCH_MS + 6
    assert parse(ids[-1]).sequence == 0


def test_clock_far_backwards_is_refused_not_duplicated() -> None:
    clock = FakeClock(EPOCH_MS + 100_000)
    gen = Snowflake(3, clock=clock, sleep=lambda s: None, max_backwards_ms=1000)
    first = gen.next_id()
    clock.now -= 5_000
    with pytest.raises(ClockMovedBackwards):
        gen.next_id()
    clock.now += 5_001
    assert gen.next_id() > first


def test_small_backwards_step_is_waited_out() -> None:
    clock = FakeClock(EPOCH_MS + 100_000)
    gen = Snowflake(3, clock=clock, sleep=clock.sleep, max_backwards_ms=1000)
    first = gen.next_id()
    clock.now -= 200
    second = gen.next_id()
    assert second > first
    assert clock.sleeps, "generator must wait, not issue an id from the past"


def test_threads_share_one_generator_without_duplicates() -> None:
    gen = Snowflake(7)
    out: list[list[int]] = [[] for _ in range(8)]

    def work(bucket: list[int]) -> None:
        for _ in range(5000):
            bucket.append(gen.next_id())

    threads = [threading.Thread(target=work, args=(b,)) for b in out]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ids = [i for b in out for i in b]
    assert len(all_ids) == 40_000 == len(set(all_ids))


def test_processes_with_distinct_workers_never_collide() -> None:
    code = "from bot.ids import Snowflake; import sys; g = Snowflake(int(sys.argv[1]));" \
           "print('\\n'.join(str(g.next_id()) for _ in range(20000)))"  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(w)], stdout=subprocess.PIPE, text=True, cwd=REPO)
        for w in (1, 2, 3, 4)
    ]
    ids = [int(line) for p in procs for line in p.communicate()[0].split()]
    assert len(ids) == 80_000 == len(set(ids))


def test_worker_id_is_validated() -> None:
    with pytest.raises(ValueError):
        Snowflake(1024)


# --- worker ids for the process: pinned or leased (bot/worker_lease.py) ---------------------------------
@pytest.fixture
def no_worker() -> Iterator[None]:
    """No process-wide generator before or after the test (others may have leased one lazily)."""
    ids.release_worker()
    yield
    ids.release_worker()


def migrated(env: dict[str, str], revision: str = "head") -> Database:
    db = Database.from_settings(load_settings(env))
    migrate.upgrade(db.engine, revision)
    return db


def owners(db: Database) -> dict[int, str]:
    with db.engine.connect() as conn:
        return dict(conn.execute(sql_select(LEASES.c.worker_id, LEASES.c.owner)).all())


def test_a_pinned_worker_id_needs_no_database(env: dict[str, str], home: Path, no_worker: None) -> None:
    env["CSBOT_IDS__WORKER_ID"] = "7"
    gen = ids.ensure_worker(load_settings(env))
    assert type(gen) is Snowflake and gen.worker_id == 7
    assert parse(ids.new_id()).worker_id == 7
    assert not (home / "csbot.db").exists()


def test_auto_leases_the_lowest_free_id_once(env: dict[str, str], no_worker: None) -> None:
    db = migrated(env)
    with db.engine.begin() as conn:  # another live process holds 0
        conn.execute(insert(LEASES).values(worker_id=0, owner="other", expires_at=time.time() + 60,
                                           updated_at=time.time()))  # fmt: skip
    gen = ids.ensure_worker(load_settings(env))
    assert isinstance(gen, LeasedSnowflake) and gen.worker_id == 1
    assert f":{os.getpid()}:" in gen.owner
    assert ids.ensure_worker(load_settings(env)) is gen
    assert parse(ids.new_id()).worker_id == 1
    assert owners(db) == {0: "other", 1: gen.owner}
    ids.release_worker()
    assert owners(db) == {0: "other"}
    db.dispose()


def test_new_id_leases_lazily_from_the_environment(env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                   no_worker: None) -> None:  # fmt: skip
    db = migrated(env)
    for name in [n for n in os.environ if n.startswith("CSBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CSBOT_HOME", env["CSBOT_HOME"])
    worker = parse(ids.new_id()).worker_id
    assert list(owners(db)) == [worker] and f":{os.getpid()}:" in owners(db)[worker]
    db.dispose()


def test_an_old_schema_is_refused_not_worked_around(env: dict[str, str], no_worker: None) -> None:
    migrated(env, "0002").dispose()
    with pytest.raises(CsbotError, match="csbot db upgrade"):
        ids.ensure_worker(load_settings(env))
    migrated(env).dispose()  # nothing was half-configured: once migrated, the next call leases
    assert isinstance(ids.ensure_worker(load_settings(env)), LeasedSnowflake)


def child(code: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


# Mints an id inside an open SQLite write transaction, as knowledge/repository.py's audit() does.
IN_TRANSACTION = """
    import sys
    from bot import ids
    from bot.settings import load_settings
    from bot.storage.db import Database
    from bot.storage.models import AuditLog

    settings = load_settings()
    if sys.argv[1] == "at-start":
        ids.ensure_worker(settings)  # what bot/serve.py and the csbot CLI do
    db = Database.from_settings(settings)
    with db.session() as s:
        s.add(AuditLog(audit_id=1, tenant_id="t", action="write"))
        s.flush()  # this process now holds the database's write lock
        print("writing", flush=True)
        s.add(AuditLog(audit_id=ids.new_id(), tenant_id="t", action="audit"))
        print("minted", flush=True)
"""


def test_the_hazard_a_lazy_lease_inside_a_sqlite_write_transaction_waits_on_itself(env: dict[str, str]) -> None:
    """Why services lease at start: the lease's INSERT waits for the lock its own process holds (the busy
    timeout, 30 s, then an error naming ensure_worker)."""
    migrated(env).dispose()
    proc = child(IN_TRANSACTION, env, "lazily")
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
        ready, _, _ = select.select([proc.stdout], [], [], 2.0)
        assert not ready and proc.poll() is None, "the lazy lease did not wait: the hazard is gone, update the docs"
    finally:
        proc.kill()
        proc.communicate()


def test_a_lease_taken_at_start_mints_inside_a_write_transaction(env: dict[str, str]) -> None:
    db = migrated(env)
    proc = child(IN_TRANSACTION, env, "at-start")
    out, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == "writing\nminted\n", errors
    assert owners(db) == {}  # given back at exit
    db.dispose()


SHOW_LEASES = """
    import os
    from sqlalchemy import text
    from bot.storage.db import Database

    def show(settings):
        db = Database.from_settings(settings)
        with db.engine.connect() as conn:
            print("pid", os.getpid(), "leases", *conn.execute(text("SELECT owner FROM cs_worker_lease")).scalars())
        db.dispose()
"""


def test_services_and_the_cli_lease_before_their_app_runs(env: dict[str, str]) -> None:
    db = migrated(env)
    serve = child(SHOW_LEASES + """
    from bot.serve import serve

    def create_app(settings):
        show(settings)
        raise SystemExit(0)

    serve(create_app, "handoff")
    """, env)  # fmt: skip
    cli = child(SHOW_LEASES + """
    import sys
    from bot.cli.main import main
    from bot.settings import load_settings

    sys.argv = ["csbot", "db", "current"]
    main()
    show(load_settings())
    """, env)  # fmt: skip
    for proc in (serve, cli):
        out, errors = proc.communicate(timeout=60)
        assert proc.returncode == 0, errors
        line = out.splitlines()[-1].split()
        assert line[:2] == ["pid", str(proc.pid)] and line[2] == "leases", out
        assert any(f":{proc.pid}:" in owner for owner in line[3:]), out
    assert owners(db) == {}
    db.dispose()


def test_the_cli_works_without_a_database_and_leaves_none_behind(env: dict[str, str], home: Path) -> None:
    for argv in (["--help"], ["status"]):
        proc = subprocess.run([sys.executable, "-m", "bot.cli.main", *argv], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr  # status: 1 = not running
    assert not (home / "csbot.db").exists()


def test_a_forked_child_leases_its_own_worker_id(env: dict[str, str]) -> None:
    db = migrated(env)
    proc = child("""
    import os, sys
    from sqlalchemy import text
    from bot import ids
    from bot.settings import load_settings
    from bot.storage.db import Database

    print("parent", ids.ensure_worker(load_settings()).worker_id, flush=True)
    pid = os.fork()
    if pid == 0:
        print("child", ids.parse(ids.new_id()).worker_id, flush=True)
        sys.exit(0)  # runs atexit: gives back the child's lease, not the parent's
    os.waitpid(pid, 0)
    with Database.from_settings(load_settings()).engine.connect() as conn:
        print("leases", *conn.execute(text("SELECT worker_id FROM cs_worker_lease")).scalars(), flush=True)
    print("parent", ids.parse(ids.new_id()).worker_id, flush=True)
    """, env)  # fmt: skip
    out, errors = proc.communicate(timeout=60)
    assert proc.returncode == 0, errors
    assert out.splitlines() == ["parent 0", "child 1", "leases 0", "parent 0"]
    assert owners(db) == {}
    db.dispose()


# A supervised service that leases its worker id at start, serves /health, and mints ``n`` ids when told to.
MINTER = """
    import http.server, signal, sys, threading, time
    from pathlib import Path
    from bot import ids
    from bot.settings import load_settings

    port, out, n = int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped: exit normally, the lease is given back
    gen = ids.ensure_worker(load_settings())

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    threading.Thread(target=http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever, daemon=True).start()
    while not (out.parent / "go").exists():
        time.sleep(0.001)
    minted = [ids.new_id() for _ in range(n)]
    out.with_suffix(".tmp").write_text("\\n".join(map(str, [gen.worker_id, *minted])))
    out.with_suffix(".tmp").replace(out)
    while True:
        time.sleep(1)
"""
PROCESSES, IDS_EACH = 5, 20_000


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_ids_from_all_supervised_processes_never_collide(backend: str, env: dict[str, str], tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:  # fmt: skip
    if backend == "mariadb":
        env["CSBOT_DATABASE__URL"] = request.getfixturevalue("mariadb_url")
    db = migrated(env)  # what `csbot run` does before it starts the services
    script, out = tmp_path / "minter.py", tmp_path / "out"
    script.write_text(textwrap.dedent(MINTER))
    out.mkdir()
    specs = []
    for i in range(PROCESSES):
        port = free_port()
        specs.append(ServiceSpec(name=f"minter{i}", port=port, health_url=f"http://127.0.0.1:{port}/", env=env,
                                 argv=[sys.executable, str(script), str(port), str(out / f"{i}.ids"), str(IDS_EACH)],
                                 cwd=REPO, start_timeout=60))  # fmt: skip
    sup = Supervisor(specs, run_dir=tmp_path / "run", log_dir=tmp_path / "logs", say=lambda m: None)
    try:
        assert sup.start_all(), [p.read_text() for p in (tmp_path / "logs").glob("*.log")]
        leased = owners(db)
        assert len(leased) == PROCESSES
        assert {o.split(":")[1] for o in leased.values()} == {str(s.proc.pid) for s in sup.services if s.proc}
        (out / "go").touch()  # all mint at the same time
        deadline = time.monotonic() + 120
        while len(list(out.glob("*.ids"))) < PROCESSES and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sup.stop_all()
    minted = [[int(x) for x in f.read_text().split()] for f in sorted(out.glob("*.ids"))]
    assert len(minted) == PROCESSES
    workers = [m[0] for m in minted]
    assert sorted(workers) == sorted(leased) and len(set(workers)) == PROCESSES
    for worker, *batch in minted:
        assert len(batch) == IDS_EACH and {parse(i).worker_id for i in batch} == {worker}
    every = [i for _, *batch in minted for i in batch]
    assert len(every) == PROCESSES * IDS_EACH == len(set(every))
    assert owners(db) == {}  # every process gave its lease back when stopped
    db.dispose()
