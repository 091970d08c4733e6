"""The knowledge service process's own routes: health that means able to answer, /answer scoped to the token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import update
from starlette.testclient import TestClient

from bot.security import service_token
from knowledge.models import KbIndexVersion
from knowledge.server import create_app
from knowledge.service import KnowledgeService
from tests.knowledge.conftest import SMALL_FAQ, make_settings, write_jsonl


def test_health_says_unhealthy_without_a_live_index(fresh_service: Callable[..., KnowledgeService],
                                                     tmp_path: Path) -> None:  # fmt: skip
    home = tmp_path / "home"
    svc = fresh_service(home=home)
    settings = make_settings(home)
    with TestClient(create_app(settings, svc)) as client:
        assert client.get("/health").json() == {"status": "ok", "live": "v1"}  # an empty KB still answers
        with svc.db.session() as s:
            s.execute(update(KbIndexVersion).values(status="previous"))
        r = client.get("/health")
        assert r.status_code == 503 and r.json()["live"] is None


def test_answer_takes_the_tenant_from_the_token_only(fresh_service: Callable[..., KnowledgeService],
                                                     tmp_path: Path) -> None:  # fmt: skip
    home = tmp_path / "home"
    svc = fresh_service(home=home)
    svc.import_paths([write_jsonl(tmp_path / "a.jsonl", SMALL_FAQ)], "shop1")
    settings = make_settings(home)
    with TestClient(create_app(settings, svc)) as client:
        def ask(tenant: str, body: dict) -> dict:
            token = service_token(settings.keyring, tenant, "test", 60)
            r = client.post("/answer", json=body, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            return r.json()

        assert ask("shop1", {"query": "我想退货"})["citations"][0]["id"] == "q1"
        leaked = ask("shop2", {"query": "我想退货", "tenant_id": "shop1"})  # the body can't widen the token
        assert leaked["abstained"] and not leaked["citations"]
        token = service_token(settings.keyring, "shop1", "test", 60)
        h = {"Authorization": f"Bearer {token}"}
        assert client.post("/answer", json={"query": ""}, headers=h).status_code == 400
        as_json, as_text = {**h, "Content-Type": "application/json"}, {**h, "Content-Type": "text/plain"}
        assert client.post("/answer", content=b"{", headers=as_json).status_code == 400
        assert client.post("/answer", content=b"q=1", headers=as_text).status_code == 415
        big = {"query": "退" * 100_000}
        assert client.post("/answer", json=big, headers=h).status_code == 413
