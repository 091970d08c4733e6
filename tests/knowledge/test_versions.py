"""Full rebuild beside the live version, atomic switch, rollback, dual writes, retirement."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import Conflict, NotFound
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl


def test_rebuild_switch_rollback(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:
    svc = fresh_service()
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ[:2])], "default")
    assert svc.versions.live().name == "v1"
    before = svc.answer("我想退货", "default")

    v2 = svc.rebuild(note="same model, fresh build")
    assert v2.status == "ready" and svc.versions.live().name == "v1"
    status = {r["name"]: r for r in svc.versions.status()}
    assert status["v2"]["vectors"] == status["v1"]["vectors"] and status["v2"]["keywords"] == 2

    # while v2 waits, imports write to both versions
    svc.import_paths([write_jsonl(tmp_path / "b.jsonl", SMALL_FAQ[2:])], "default")
    status = {r["name"]: r for r in svc.versions.status()}
    assert status["v2"]["vectors"] == status["v1"]["vectors"] == 6 + 3 + 2  # phrasings, centroids, 2 answers

    svc.switch("v2")
    assert svc.versions.live().name == "v2"
    after = svc.answer("我想退货", "default")
    assert after.kb_version == "v2" and not after.cached  # the switch invalidated cached answers
    assert after.citations[0].id == before.citations[0].id
    assert not svc.answer("支持哪些支付方式", "default").abstained

    svc.rollback()
    assert svc.versions.live().name == "v1"
    assert svc.answer("我想退货", "default").kb_version == "v1"
    with pytest.raises(Conflict):
        svc.rollback()  # nothing before v1
    with pytest.raises(NotFound):
        svc.switch("v9")

    # v1 live, v2 ready; build v3 and switch: v1 becomes previous; switching again retires it
    svc.rebuild(switch=True)
    names = {r["name"]: r["status"] for r in svc.versions.status()}
    assert names == {"v1": "previous", "v2": "ready", "v3": "live"}
    svc.switch("v2")
    names = {r["name"]: r["status"] for r in svc.versions.status()}
    assert names == {"v1": "retired", "v2": "live", "v3": "previous"}
    assert not svc.vectors.has_collection("kb_v1") and not svc.keywords.has_index("kb_v1")
    assert svc.vectors.has_collection("kb_v3")


def test_milvus_alias_follows_the_live_version(fresh_service: Callable[..., KnowledgeService],
                                               tmp_path: Path) -> None:  # fmt: skip
    svc = fresh_service()
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "default")
    client = svc.vectors.client
    assert "kb_live" in client.list_aliases("kb_v1")["aliases"]
    svc.rebuild(switch=True)
    assert "kb_live" in client.list_aliases("kb_v2")["aliases"]
    assert svc.keywords.resolve_alias("kb_live") == "kb_v2"


def test_two_instances_starting_together_share_one_live_version(fresh_service: Callable[..., KnowledgeService],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Both looked before either created v1 (the moment two knowledge services start on an empty database):
    the second one's insert meets the unique name and it takes the version the first created."""
    first = fresh_service()
    live = first.versions.ensure_live()
    second = first.versions
    seen: list[str] = []
    real_live = type(second).live

    def raced(self: object) -> object:
        seen.append("looked")
        return None if len(seen) == 1 else real_live(self)  # type: ignore[arg-type]

    monkeypatch.setattr(type(second), "live", raced)
    # it saw no v1 either, so it names its version v1 too
    monkeypatch.setattr("knowledge.versions.repo.next_version_name", lambda s: "v1")
    assert second.ensure_live().name == live.name == "v1"
    assert [r["name"] for r in first.versions.status()] == ["v1"]
