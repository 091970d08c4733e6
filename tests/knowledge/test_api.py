"""Admin API: JWT + role kb_admin, FAQ CRUD, document upload, versions, audit log, tenant from the token."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.security import Principal, issue_token
from bot.storage.models import AuditLog
from knowledge.api import create_app
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, make_settings, write_jsonl


@pytest.fixture
def api(fresh_service: Callable[..., KnowledgeService],
        tmp_path: Path) -> Iterator[tuple[TestClient, KnowledgeService]]:  # fmt: skip
    home = tmp_path / "home"
    svc = fresh_service(home=home)
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "shop1")
    settings = make_settings(home)
    with TestClient(create_app(settings, svc)) as client:
        client.settings = settings  # type: ignore[attr-defined]
        yield client, svc


def auth(client: TestClient, roles: set[str], tenant: str = "shop1", user_id: int = 7) -> dict[str, str]:
    who = Principal(user_id, tenant, frozenset(roles), "运营小王")
    token = issue_token(client.settings.keyring, who, 3600)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


def test_auth_is_required(api: tuple[TestClient, KnowledgeService]) -> None:
    client, _ = api
    assert client.get("/faqs").status_code == 401
    assert client.get("/faqs", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    for path, method in (("/faqs", "get"), ("/faqs/q1", "delete"), ("/rebuild", "post"), ("/status", "get")):
        assert getattr(client, method)(path, headers=auth(client, {"agent"})).status_code == 403
    # index versions serve every tenant: one shop's KB admin may not rebuild or switch them
    for path, method in (("/rebuild", "post"), ("/switch", "post"), ("/rollback", "post"), ("/status", "get")):
        assert getattr(client, method)(path, headers=auth(client, {"kb_admin"})).status_code == 403


def test_faq_crud_is_audited_and_tenant_scoped(api: tuple[TestClient, KnowledgeService]) -> None:
    client, svc = api
    h = auth(client, {"kb_admin"})
    items = client.get("/faqs", headers=h).json()["items"]
    assert {i["id"] for i in items} == {"q1", "q2", "q3"}
    assert client.get("/faqs", headers=auth(client, {"kb_admin"}, tenant="other")).json()["items"] == []

    new = {"id": "q9", "question": "可以开增值税专用发票吗？", "answer": "可以，在订单页申请专票。",
           "category": "invoice"}
    r = client.post("/faqs", json=new, headers=h)
    assert r.status_code == 201 and r.json()["added"] == 1
    assert client.post("/faqs", json=new, headers=h).status_code == 409
    assert svc.answer("能开专票吗", "shop1").citations[0].id == "q9"

    r = client.put("/faqs/q9", json={**new, "answer": "可以，专票需要提供税号。"}, headers=h)
    assert r.status_code == 200 and r.json()["updated"] == 1
    assert client.get("/faqs/q9", headers=h).json()["answer"] == "可以，专票需要提供税号。"
    assert "税号" in svc.answer("能开专票吗", "shop1").text  # the edit invalidated the cached answer

    assert client.post("/faqs", json={"id": "bad", "question": "没有答案"}, headers=h).status_code == 400
    assert client.delete("/faqs/q9", headers=h).status_code == 200
    assert client.delete("/faqs/q9", headers=h).status_code == 404
    assert client.get("/faqs/q9", headers=h).status_code == 404
    # another tenant's admin cannot touch shop1's FAQ
    assert client.delete("/faqs/q1", headers=auth(client, {"kb_admin"}, tenant="other")).status_code == 404

    with svc.db.session() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.audit_id))]
        row = s.scalars(select(AuditLog).where(AuditLog.action == "kb.faq.delete")).one()
        assert row.tenant_id == "shop1" and row.actor_id == 7 and row.target_id == "q9"
    assert actions == ["kb.faq.create", "kb.faq.update", "kb.faq.delete"]


def test_document_upload_versions_and_status(api: tuple[TestClient, KnowledgeService]) -> None:
    client, svc = api
    h = auth(client, {"admin"})  # admin holds every role
    doc = "# 会员规则\n\n## 升级\n累计消费满2000元升级为金卡会员。\n".encode()
    r = client.put("/documents/会员.md", content=doc, headers=h)
    assert r.status_code == 200 and r.json()["added"] == 1
    assert client.get("/documents", headers=h).json()["items"][0]["id"] == "doc:会员"
    assert client.put("/documents/evil.exe", content=b"MZ", headers=h).status_code == 400
    assert client.put("/documents/..%2Fx.md", content=b"x", headers=h).status_code in (400, 404)
    assert client.put("/documents/empty.md", content=b"", headers=h).status_code == 400

    r = client.post("/rebuild", json={"note": "api", "switch": True}, headers=h)
    assert r.status_code == 200 and r.json()["version"] == "v2"
    assert client.post("/rollback", headers=h).json() == {"live": "v1"}
    assert client.post("/switch", json={"version": "v2"}, headers=h).json() == {"live": "v2"}
    assert client.post("/switch", json={"version": "nope"}, headers=h).status_code == 404
    status = client.get("/status", headers=h).json()
    assert [v["status"] for v in status["versions"]] == ["previous", "live"]
    assert client.delete("/documents/会员.md", headers=h).json()["sections"] == 1

    ans = client.post("/ask", json={"query": "我想退货"}, headers=h).json()
    assert ans["citations"][0]["id"] == "q1"
    with svc.db.session() as s:
        actions = {a.action for a in s.scalars(select(AuditLog))}
    assert {"kb.doc.upload", "kb.rebuild", "kb.rollback", "kb.switch", "kb.doc.delete"} <= actions


def test_bulk_import_and_eval_endpoints(api: tuple[TestClient, KnowledgeService], tmp_path: Path) -> None:
    client, svc = api
    h = auth(client, {"kb_admin"})
    body = '{"id": "q7", "question": "能开发票吗？", "answer": "能，在订单详情页申请电子发票。"}\n'.encode()
    assert client.put("/import/more.jsonl", content=body, headers=auth(client, {"agent"})).status_code == 403
    r = client.put("/import/more.jsonl", content=body, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["added"] == 1
    assert client.put("/import/more.jsonl", content=body, headers=h).json()["status"] == "unchanged"
    assert client.put("/import/..%2Fevil.jsonl", content=body, headers=h).status_code in (400, 404)
    assert client.put("/import/virus.exe", content=b"MZ", headers=h).status_code == 400
    broken = client.put("/import/bad.jsonl", content=b'{"id": "x"}\n', headers=h).json()
    assert broken["status"] == "error" and "bad.jsonl" in broken["error"] and "/tmp" not in broken["error"]
    with svc.db.session() as s:
        assert "kb.import" in {a.action for a in s.scalars(select(AuditLog))}

    lines = '{"query": "我想退货", "expected": ["q1"]}\n{"query": "明天会下雨吗", "expected": []}\n'
    report = client.post("/eval", json={"lines": lines}, headers=h).json()
    assert report["n"] == 2 and report["recall@1"] == 1.0 and report["abstained_oos"] == 1.0
    assert client.post("/eval", json={"lines": "{oops"}, headers=h).status_code == 400
    assert client.post("/eval", json={"cases": []}, headers=h).status_code == 400


def test_faq_search_and_hot_questions(api: tuple[TestClient, KnowledgeService]) -> None:
    client, svc = api
    h = auth(client, {"kb_admin"})
    ids = lambda r: [i["id"] for i in r.json()["items"]]  # noqa: E731
    assert ids(client.get("/faqs", params={"q": "流程"}, headers=h)) == ["q1"]  # a similar question matches
    assert ids(client.get("/faqs", params={"q": "48小时"}, headers=h)) == ["q2"]  # so does the answer
    assert ids(client.get("/faqs", params={"q": "%"}, headers=h)) == []
    assert ids(client.get("/faqs", params={"q": "流程"}, headers=auth(client, {"kb_admin"}, "other"))) == []
    for _ in range(3):  # answers from the cache count as hits too
        svc.answer("支持哪些支付方式", "shop1")
    svc.flush_hits()
    hot = ids(client.get("/faqs", params={"sort": "hits"}, headers=h))
    assert hot[0] == "q3"
    assert client.get("/faqs", params={"sort": "mood"}, headers=h).status_code == 400
