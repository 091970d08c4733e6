"""The privacy API on the handoff service (Starlette's test client, the real app on SQLite): only an admin, only
their own tenant (another tenant's customer is a 404, as an unknown one is), export then erase, and the codes
for nothing found (404), an open handoff session (409) and a malformed id (400)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from bot.security import Principal, issue_token
from handoff.domain import CustomerRef

from ..handoff.conftest import Clock, Customers
from .world import PHONE, World


@pytest.fixture
def client(sqlite_world: World) -> Iterator[TestClient]:
    from handoff.app import create_app

    with TestClient(create_app(sqlite_world.settings, Customers(), Clock(), run_clock=False)) as c:
        yield c


def bearer(w: World, role: str, tenant: str = "default") -> dict[str, str]:
    token = issue_token(w.settings.keyring, Principal(77, tenant, frozenset({role}), "管理员"), 600)
    return {"Authorization": f"Bearer {token}"}


def url(customer: str) -> str:
    return f"/api/admin/privacy/customers/{quote(customer, safe=':@')}"


def test_only_an_admin_of_the_tenant_reaches_a_customer(sqlite_world: World, client: TestClient) -> None:
    w = sqlite_world
    me = w.customer("default", "u1001")
    before = w.counts(me)
    assert client.get(url("u1001")).status_code == 401
    for role in ("agent", "supervisor", "kb_admin"):
        assert client.get(url("u1001"), headers=bearer(w, role)).status_code == 403, role
        assert client.delete(url("u1001"), headers=bearer(w, role)).status_code == 403, role
    other_admin = bearer(w, "admin", "acme")
    for name in ("u1001", "default:u1001"):
        assert client.get(url(name), headers=other_admin).status_code == 404
        assert client.delete(url(name), headers=other_admin).status_code == 404
    assert w.counts(me) == before

    admin = bearer(w, "admin")
    got = client.get(url("u1001"), headers=admin)
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    assert PHONE in got.text and got.json()["counts"]["archive"] == before["archive"]
    erased = client.delete(url("u1001"), headers=admin)
    assert erased.status_code == 200 and erased.json()["complete"] and erased.json()["removed"]["archive"] > 0
    assert set(w.counts(me).values()) == {0}
    assert client.delete(url("u1001"), headers=admin).status_code == 404  # again: nothing left
    kept = client.get(url("u1001"), headers=admin).json()  # only the safety incident's record, its line redacted
    assert list(kept["stores"]) == ["safety_incidents"] and PHONE not in str(kept)


def test_bad_requests_get_a_clear_status(sqlite_world: World, client: TestClient) -> None:
    w = sqlite_world
    admin = bearer(w, "admin")
    assert client.get(url("nobody"), headers=admin).json() == {"error": "nothing found for customer nobody in "
                                                                        "this tenant"}  # fmt: skip
    for bad in ("a b", "x" * 200, "default:", ":u1", "default:u1:extra"):
        r = client.get(url(bad), headers=admin)
        assert r.status_code in (400, 404) and "Traceback" not in r.text, (bad, r.status_code)
    assert client.get(url("a%20b"), headers=admin).status_code == 400
    me = w.customer("default", "u1001")
    w.svc.request(CustomerRef("default", me.conversation, "web", "u1001", "张三"), "after_sales")
    busy = client.delete(url("u1001"), headers=admin)
    assert busy.status_code == 409 and "open" in busy.json()["error"]
    assert w.counts(me)["archive"] > 0
