"""Staff log-in on the handoff service: tokens, log-out that sticks everywhere, refresh, brute force, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import Database
from bot.users import UserService
from bot.web import Auth
from handoff.app import create_app

PASSWORD = "correct horse 电池"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    users = UserService(db)
    users.create("default", "xiaowang", "小王", {"agent"}, PASSWORD, ("售后",))
    users.create("acme", "xiaowang", "小王(acme)", {"supervisor"}, PASSWORD + "!")
    with TestClient(create_app(settings)) as c:
        yield c


def login(c: TestClient, name: str = "xiaowang", password: str = PASSWORD, tenant: str = "default") -> dict:
    r = c.post("/api/auth/login", json={"tenant": tenant, "login": name, "password": password})
    assert r.status_code == 200, r.text
    return r.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_log_in_who_am_i_and_tenants_stay_apart(client: TestClient) -> None:
    got = login(client)
    assert got["user"]["roles"] == ["agent"] and got["user"]["skills"] == ["售后"] and got["expires_in"] > 0
    me = client.get("/api/auth/me", headers=bearer(got["token"])).json()
    assert me["tenant"] == "default" and me["name"] == "小王"
    # the same login in another tenant is another account with its own password
    assert client.post("/api/auth/login", json={"tenant": "acme", "login": "xiaowang", "password": PASSWORD}
                       ).status_code == 401  # fmt: skip
    assert login(client, password=PASSWORD + "!", tenant="acme")["user"]["roles"] == ["supervisor"]


def test_wrong_login_and_wrong_password_read_the_same(client: TestClient) -> None:
    a = client.post("/api/auth/login", json={"login": "xiaowang", "password": "nope-nope"})
    b = client.post("/api/auth/login", json={"login": "nobody", "password": PASSWORD})
    assert a.status_code == b.status_code == 401 and a.json() == b.json()


def test_a_token_replayed_after_logout_is_refused_everywhere(client: TestClient, settings: Settings) -> None:
    token = login(client)["token"]
    assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 401
    assert client.post("/api/auth/refresh", headers=bearer(token)).status_code == 401
    # every other service checks the same revocation list
    from starlette.requests import Request

    auth = Auth(settings.keyring, UserService(Database.from_settings(settings)).is_revoked)
    scope = {"type": "http", "headers": [(b"authorization", f"Bearer {token}".encode())]}
    with pytest.raises(Exception, match="revoked"):
        auth.principal(Request(scope))


def test_refresh_gives_a_new_token_and_retires_the_old(client: TestClient) -> None:
    old = login(client)["token"]
    new = client.post("/api/auth/refresh", headers=bearer(old)).json()["token"]
    assert new != old
    assert client.get("/api/auth/me", headers=bearer(new)).status_code == 200
    assert client.get("/api/auth/me", headers=bearer(old)).status_code == 401


def test_guessing_passwords_is_slowed_down(client: TestClient) -> None:
    codes = [client.post("/api/auth/login", json={"login": "xiaowang", "password": f"guess-{i}"}).status_code
             for i in range(12)]  # fmt: skip
    assert codes[:10] == [401] * 10 and codes[-1] == 429
    r = client.post("/api/auth/login", json={"login": "xiaowang", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # even the right one, for now


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{", {"Content-Type": "application/json"}, 400),
        (b"[]", {"Content-Type": "application/json"}, 400),
        (b'{"login": 5, "password": []}', {"Content-Type": "application/json"}, 400),
        (b"login=a&password=b", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b'{"login": "' + b"x" * 10_000 + b'"}', {"Content-Type": "application/json"}, 413),
        (b'{"tenant": "x\' OR 1=1 --", "login": "a", "password": "b"}', {"Content-Type": "application/json"}, 401),
        (b'{"login": "\\u202eadmin", "password": "12345678"}', {"Content-Type": "application/json"}, 401),
    ],
)
def test_bad_log_in_requests_get_a_clear_4xx(client: TestClient, body: bytes, headers: dict[str, str],
                                             status: int) -> None:  # fmt: skip
    r = client.post("/api/auth/login", content=body, headers=headers)
    assert r.status_code == status and r.json()["error"] and "Traceback" not in r.text


def test_accounts_are_validated(settings: Settings) -> None:
    db = Database.from_settings(settings)
    migrate.upgrade(db.engine)
    users = UserService(db)
    from bot.errors import Conflict, InvalidInput

    bad = [("default", "", {"agent"}, PASSWORD), ("default", "a", {"root"}, PASSWORD),
           ("default", "a", {"agent"}, "short"), ("bad tenant!", "a", {"agent"}, PASSWORD)]  # fmt: skip
    for tenant, name, roles, password in bad:
        with pytest.raises(InvalidInput):
            users.create(tenant, name, "x", roles, password)
    users.create("default", "lisi", "李四", {"kb_admin"}, PASSWORD)
    with pytest.raises(Conflict):
        users.create("default", "lisi", "李四", {"agent"}, PASSWORD)
