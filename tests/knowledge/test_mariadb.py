"""The knowledge tables and queries on the machine's real MariaDB (migration 0002 + import + answer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, make_settings, write_jsonl


@pytest.mark.mariadb
def test_import_and_answer_on_mariadb(mariadb_url: str, tmp_path: Path) -> None:
    svc = KnowledgeService.from_settings(make_settings(tmp_path / "home", {"database": {"url": mariadb_url}}))
    try:
        svc.migrate()
        assert {"cs_kb_index_version", "cs_kb_state", "cs_kb_lowconf"} <= set(inspect(svc.db.engine).get_table_names())
        rep = svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "shop1")[0]
        assert rep.status == "ok" and rep.added == 3
        assert svc.answer("我想退货", "shop1").citations[0].id == "q1"
        assert svc.answer("明天会下雨吗", "shop1", conversation_id="c1").abstained
        assert svc.low_confidence("shop1")[0]["conversation_id"] == "c1"
        svc.rebuild(switch=True)
        svc.rollback()
        assert svc.versions.live().name == "v1"
        from bot.storage import migrate

        migrate.downgrade(svc.db.engine, "0001")
        assert "cs_kb_state" not in inspect(svc.db.engine).get_table_names()
    finally:
        svc.close()
