"""The search index part of an erase on Elasticsearch (the Elasticsearch-wire server): the customer's lines leave
the index, another customer's stay (tantivy is what every other privacy test runs on)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from bot.ids import configure
from bot.privacy.service import Actor
from bot.privacy.subject import subject_of
from bot.settings import load_settings
from handoff.privacy import build_service

from ..wire_servers import elasticsearch_wire
from .world import PHONE, make_world

pytestmark = pytest.mark.slow


def test_erase_on_elasticsearch(env: dict[str, str], tmp_path: Path) -> None:
    configure(11)
    with elasticsearch_wire(tmp_path / "es") as url:
        settings = load_settings({**env, "CSBOT_MESSAGE_SEARCH__TYPE": "elasticsearch",
                                  "CSBOT_MESSAGE_SEARCH__HOSTS": url, "CSBOT_MESSAGE_SEARCH__REFRESH": "wait_for",
                                  "CSBOT_MESSAGE_SEARCH__INDEX": f"msg-{uuid.uuid4().hex[:8]}"})  # fmt: skip
        w = make_world(settings)
        try:
            me, other = w.customer("default", "u1001"), w.customer("default", "u2002")
            mine, theirs = w.indexed("default", me.conversation), w.indexed("default", other.conversation)
            assert mine >= 2 and theirs >= 2
            svc = build_service(settings, db=w.db)
            try:
                data = svc.export(subject_of("u1001", None, "default"), Actor("cli"))
                assert data is not None and len(data["stores"]["search_index"]) == mine
                assert PHONE not in str(data["stores"]["search_index"])  # the index keeps a masked copy only
                report = svc.erase(subject_of("u1001", None, "default"), Actor("cli"))
            finally:
                svc.close()
            assert report.complete and report.removed["search_index"] == mine
            assert w.indexed("default", me.conversation) == 0 and w.indexed("default", other.conversation) == theirs
        finally:
            w.close()
            w.db.dispose()
