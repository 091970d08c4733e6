"""Import: per-file reports, incremental re-import by content hash, deletes from every index, atomicity."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.storage.models import Doc, DocEmbedding, Faq
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, write_jsonl
from tests.knowledge.pdfs import minimal_pdf

DOC = """# 配送说明

## 发货时间
付款后48小时内发货，预售商品以页面为准。

## 偏远地区
新疆、西藏、内蒙古等偏远地区需加收运费10元。

## 快递公司
默认使用顺丰和中通，不支持指定快递。
"""


def index_pks(svc: KnowledgeService, tenant: str) -> tuple[set[str], int]:
    live = svc.versions.live()
    assert live is not None
    return svc.vectors.pks(live.vector_collection, tenant), svc.keywords.count(live.keyword_index, tenant)


def test_batch_with_bad_files_continues(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:
    svc = fresh_service()
    good = write_jsonl(tmp_path / "good.jsonl", SMALL_FAQ)
    dup = write_jsonl(tmp_path / "dup.jsonl", [SMALL_FAQ[0], SMALL_FAQ[0]])
    no_answer = write_jsonl(tmp_path / "noanswer.jsonl", [{"id": "z", "question": "没有答案的问题"}])
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7 broken")
    (tmp_path / "gbk.txt").write_bytes("偏远地区需要加收运费十元。".encode("gbk"))
    (tmp_path / "notes.xyz").write_text("?")
    (tmp_path / "ok.pdf").write_bytes(minimal_pdf("Shipping within 48 hours"))
    (tmp_path / "配送.md").write_text(DOC, encoding="utf-8")
    files = [good, dup, no_answer, tmp_path / "empty.md", tmp_path / "broken.pdf", tmp_path / "gbk.txt",
             tmp_path / "notes.xyz", tmp_path / "ok.pdf", tmp_path / "配送.md"]  # fmt: skip
    reports = {Path(r.path).name: r for r in svc.import_paths(files, "default")}
    assert reports["good.jsonl"].status == "ok" and reports["good.jsonl"].added == 3
    assert "duplicate id" in (reports["dup.jsonl"].error or "")
    assert "missing answer" in (reports["noanswer.jsonl"].error or "")
    assert "empty file" in (reports["empty.md"].error or "")
    assert "unreadable PDF" in (reports["broken.pdf"].error or "")
    assert "unsupported file type" in (reports["notes.xyz"].error or "")
    assert reports["gbk.txt"].status == "ok" and any("decoded as" in n for n in reports["gbk.txt"].notes)
    assert reports["ok.pdf"].status == "ok" and reports["配送.md"].added == 3
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Faq)) == 3  # nothing from the rejected FAQ files
    ans = svc.answer("内蒙古要加运费吗", "default")
    assert not ans.abstained and ans.citations[0].id.startswith("doc:配送#")


def test_reimport_is_incremental_and_deletes_removed(fresh_service: Callable[..., KnowledgeService],
                                                     tmp_path: Path) -> None:  # fmt: skip
    svc = fresh_service()
    faq = write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)
    doc = tmp_path / "配送.md"
    doc.write_text(DOC, encoding="utf-8")
    first = svc.import_paths([faq, doc], "default")
    assert [r.status for r in first] == ["ok", "ok"]
    vec_before, kw_before = index_pks(svc, "default")
    # 3 FAQs: 6 phrasings + 3 centroids + answers of the 2 FAQs with < 3 phrasings (q2, q3); 3 sections
    assert len(vec_before) == 6 + 3 + 2 + 3 and kw_before == 3 + 3
    assert sum(pk.startswith("fa") for pk in vec_before) == 2

    # unchanged re-import: nothing embedded, nothing touched
    again = svc.import_paths([faq, doc], "default")
    assert [r.status for r in again] == ["unchanged", "unchanged"] and sum(r.embedded for r in again) == 0
    assert index_pks(svc, "default")[0] == vec_before

    # change one similar question of q1 and one document section, remove another section
    rows = [dict(r) for r in SMALL_FAQ]
    rows[0]["similar_questions"] = ["我想退货", "退货要怎么操作"]
    write_jsonl(faq, rows)
    changed = DOC.replace("加收运费10元", "加收运费15元")
    doc.write_text(changed.replace("## 快递公司\n默认使用顺丰和中通，不支持指定快递。\n", ""), encoding="utf-8")
    faq_rep, doc_rep = svc.import_paths([faq, doc], "default")
    assert faq_rep.updated == 1 and faq_rep.unchanged == 2
    assert faq_rep.embedded == 2  # the new phrasing + q1's centroid; unchanged phrasings are not re-embedded
    assert (doc_rep.added, doc_rep.unchanged, doc_rep.removed, doc_rep.embedded) == (1, 1, 2, 1)
    vec_after, kw_after = index_pks(svc, "default")
    assert len(vec_after) == 14 - 1 and kw_after == 3 + 2  # one section fewer everywhere
    assert len(vec_before - vec_after) == 2 + 2  # old phrasing+centroid, two old sections
    with svc.db.session() as s:
        d = s.scalars(select(Doc)).one()
        assert d.version_no == 2
        secs = s.scalars(select(DocEmbedding).order_by(DocEmbedding.section_idx)).all()
        assert [e.section_idx for e in secs] == [0, 1] and "15元" in secs[1].content_snippet
    assert "15元" in svc.answer("偏远地区加多少运费", "default").text
    assert svc.answer("快递可以指定顺丰吗", "default").abstained or all(
        "快递公司" not in c.snippet for c in svc.answer("快递可以指定顺丰吗", "default").citations)


def test_disable_and_prune_faqs(fresh_service: Callable[..., KnowledgeService], tmp_path: Path) -> None:
    svc = fresh_service()
    faq = write_jsonl(tmp_path / "faq.jsonl", SMALL_FAQ)
    svc.import_paths([faq], "default")
    rows = [dict(r) for r in SMALL_FAQ]
    rows[1]["enabled"] = False
    write_jsonl(faq, rows[:2])
    reports = svc.import_paths([faq], "default", prune=True)
    assert reports[-1].path == "(prune)" and reports[-1].removed == 1
    vec, kw = index_pks(svc, "default")
    assert len(vec) == 3 + 1 and kw == 1  # only q1 remains indexed (q2 disabled, q3 pruned)
    assert svc.answer("多久能发货", "default").abstained or svc.answer("多久能发货", "default").citations[0].id != "q2"


def test_failed_index_write_leaves_nothing_half_indexed(fresh_service: Callable[..., KnowledgeService],
                                                        tmp_path: Path) -> None:  # fmt: skip
    svc = fresh_service()
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ[:1])], "default")
    live = svc.versions.live()
    assert live is not None
    vec_before, kw_before = index_pks(svc, "default")
    # another writer holds the tantivy index lock: the keyword write fails after the vectors were written
    import tantivy

    from knowledge.keywords.tantivy_index import _schema

    blocker = tantivy.Index(_schema(), path=str(svc.keywords.root / live.keyword_index)).writer()
    try:
        rep = svc.import_paths([write_jsonl(tmp_path / "b.jsonl", SMALL_FAQ[1:])], "default")[0]
    finally:
        blocker.rollback()
        del blocker
    assert rep.status == "error"
    assert index_pks(svc, "default") == (vec_before, kw_before)  # the vectors written first were removed
    with svc.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Faq)) == 1  # SQL rolled back


@pytest.mark.parametrize("tenant", ["acme", "t_2"])
def test_import_for_a_tenant(fresh_service: Callable[..., KnowledgeService], tmp_path: Path, tenant: str) -> None:
    svc = fresh_service()
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], tenant)
    assert not svc.answer("我想退货", tenant).abstained
    assert svc.answer("我想退货", "default").abstained
