"""The archive process (its real app, served over HTTP in a thread) with privacy: it runs the day's retention
purge itself, and an erase from another process, finding the message index's one writer held, has the archive
process delete the conversation from the index (``POST /internal/search/forget``, a service token)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from bot.events.outbox import event, publish
from bot.ids import configure
from bot.privacy.service import Actor
from bot.privacy.subject import subject_of
from bot.security import Principal, issue_token, service_token
from bot.settings import load_settings
from handoff.archive.app import create_app
from handoff.privacy import build_service

from ..conftest import free_port
from .world import make_world


@contextmanager
def archive_process(settings: Any) -> Iterator[str]:
    """The archive process's app on its configured port (where other processes look for it), in a thread."""
    port = settings.services.archive_port
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: server.started)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def wait_for(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_the_archive_process_purges_daily_and_deletes_from_its_index_for_others(env: dict[str, str]) -> None:
    configure(11)
    settings = load_settings({**env, "CSBOT_SERVICES__ARCHIVE_PORT": str(free_port()),
                              "CSBOT_PRIVACY__RETENTION_DAYS": "30", "CSBOT_PRIVACY__PURGE_HOUR": "0"})  # fmt: skip
    w = make_world(settings)
    try:
        me = w.customer("default", "u1001")
        old = w.customer("default", "u3003")
        w.age(old, 40)
        with archive_process(settings) as url:
            wait_for(lambda: set(w.counts(old).values()) == {0})  # the day's purge ran in the archive process
            assert w.counts(me)["archive"] > 0

            with w.db.session() as s:  # a new line: the indexer opens the index's writer and keeps it
                publish(s, [event("message", "default", "default:u4004", {"role": "customer", "text": "换货",
                                                                           "customer": "u4004"})])  # fmt: skip
            wait_for(lambda: w.indexed("default", "default:u4004"))
            assert w.indexed("default", me.conversation) > 0
            svc = build_service(settings, db=w.db)  # another process: the CLI or the handoff service
            try:
                report = svc.erase(subject_of("u1001", None, "default"), Actor("cli"))
            finally:
                svc.close()
            assert report.complete and report.removed["search_index"] > 0, report.to_json()
            wait_for(lambda: w.indexed("default", me.conversation) == 0)
            assert set(w.counts(me).values()) == {0}

            forget = f"{url}/internal/search/forget"
            staff = issue_token(settings.keyring, Principal(1, "default", frozenset({"admin"})), 60)
            assert httpx.post(forget, json={"conversations": ["x"]}).status_code == 401
            assert httpx.post(forget, json={"conversations": ["x"]},
                              headers={"Authorization": f"Bearer {staff}"}).status_code == 401  # fmt: skip
            service = {"Authorization": f"Bearer {service_token(settings.keyring, 'default', 'test', 60)}"}
            assert httpx.post(forget, json={"conversations": "x"}, headers=service).status_code == 400
            assert httpx.post(forget, json={"conversations": ["nobody"]}, headers=service).json() == {"removed": 0}
    finally:
        w.close()
        w.db.dispose()
