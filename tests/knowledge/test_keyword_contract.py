"""One contract for every keyword backend: tantivy (embedded) and Elasticsearch (an ES-wire server,
noida-db, started on a free port with its data in tmp — see platform-facts)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.keywords.base import KeywordDoc, KeywordIndex
from knowledge.keywords.elasticsearch_index import ElasticsearchKeywordIndex
from knowledge.keywords.tantivy_index import TantivyKeywordIndex
from knowledge.text.tokenize import tokenize

from ..wire_servers import elasticsearch_wire


@pytest.fixture(scope="session")
def es_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with elasticsearch_wire(tmp_path_factory.mktemp("noida")) as url:
        yield url


@pytest.fixture(params=["tantivy", pytest.param("elasticsearch", marks=pytest.mark.slow)])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeywordIndex]:
    if request.param == "tantivy":
        idx: KeywordIndex = TantivyKeywordIndex(tmp_path / "tantivy")
    else:
        idx = ElasticsearchKeywordIndex([request.getfixturevalue("es_url")], prefix=f"t{tmp_path.name[-6:]}".lower())
    yield idx
    idx.close()


def doc(pk: str, tenant: str, item: int, text: str) -> KeywordDoc:
    return KeywordDoc(pk, tenant, "faq", item, tuple(tokenize(text)))


def test_contract(index: KeywordIndex) -> None:
    index.create_index("kb_v1")
    assert index.has_index("kb_v1") and not index.has_index("kb_v9")
    index.add("kb_v1", [
        doc("a1", "shop1", 1, "怎么申请退货 退货流程"),
        doc("a2", "shop1", 2, "多久能发货 发货时间"),
        doc("b1", "shop2", 3, "怎么申请退货 退货流程"),
    ])  # fmt: skip
    hits = index.search("kb_v1", tokenize("退货要怎么申请"), "shop1", 5)
    assert [h.pk for h in hits] == ["a1"] and hits[0].item_id == 1 and hits[0].kind == "faq" and hits[0].score > 0
    assert [h.pk for h in index.search("kb_v1", tokenize("退货"), "shop2", 5)] == ["b1"]  # tenant filter
    assert index.search("kb_v1", tokenize("退货"), "nobody", 5) == []
    assert index.search("kb_v1", [], "shop1", 5) == []
    assert index.count("kb_v1") == 3 and index.count("kb_v1", "shop1") == 2

    index.add("kb_v1", [doc("a1", "shop1", 1, "怎么申请换货")])  # same key: replaced, not duplicated
    assert index.count("kb_v1", "shop1") == 2
    assert index.search("kb_v1", tokenize("退货"), "shop1", 5) == []
    index.delete("kb_v1", ["a1", "missing"])
    assert index.count("kb_v1", "shop1") == 1

    index.create_index("kb_v2")
    index.set_alias("kb_live", "kb_v1")
    index.set_alias("kb_live", "kb_v2")  # re-pointed in one step
    index.drop_index("kb_v1")
    assert not index.has_index("kb_v1")


def test_elasticsearch_alias_points_at_one_index(es_url: str) -> None:
    idx = ElasticsearchKeywordIndex([es_url], prefix="aliastest")
    for name in ("kb_v1", "kb_v2"):
        idx.create_index(name)
    idx.set_alias("kb_live", "kb_v1")
    idx.set_alias("kb_live", "kb_v2")
    assert list(idx.client.indices.get_alias(name="aliastest_kb_live")) == ["aliastest_kb_v2"]
    idx.close()


@pytest.mark.slow
def test_service_on_elasticsearch(es_url: str, tmp_path: Path) -> None:
    from knowledge.service import KnowledgeService
    from tests.knowledge.conftest import SMALL_FAQ, make_settings, write_jsonl

    settings = make_settings(tmp_path / "home", {"keywords": {"type": "elasticsearch", "hosts": es_url,
                                                              "prefix": "svc" + tmp_path.name[-6:].lower()}})
    svc = KnowledgeService.from_settings(settings)
    svc.migrate()
    try:
        assert svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "default")[0].status == "ok"
        ans = svc.answer("支持哪些支付方式", "default")
        assert not ans.abstained and ans.citations[0].id == "q3" and not ans.degraded
        result, _ = svc.search("支付方式", "default")
        assert result.features["agree"] == 1.0  # the keyword side answered too
    finally:
        svc.close()
