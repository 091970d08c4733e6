"""Walk the authorization matrix (tests/security_matrix.py) against the running platform: every route of
every service × every identity × two tenants. No token → 401; a token of another audience or signer → 401;
a role that may not → 403; a permitted identity gets past authentication (any status but 401/403)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import httpx
import jwt
import pytest

from bot.security import Principal, issue_token, service_token
from bot.settings import load_settings

from ..platform import Platform
from ..security_matrix import ROUTES, R

pytestmark = [pytest.mark.rasa, pytest.mark.slow]

TENANTS = ("default", "acme")
ROLES = ("agent", "supervisor", "kb_admin", "admin")


def identities(p: Platform) -> dict[str, dict[str, str]]:
    keys = load_settings(p.env).keyring
    out: dict[str, dict[str, str]] = {"none": {}, "customer": _bearer(p.customer_token("u1001"))}
    for tenant in TENANTS:
        for role in ROLES:
            who = Principal(9000 + ROLES.index(role), tenant, frozenset({role}), "矩阵")
            out[f"{role}@{tenant}"] = _bearer(issue_token(keys, who, 600))
        out[f"service@{tenant}"] = _bearer(service_token(keys, tenant, "matrix", 600))
    out["rasa-admin"] = p.rasa_api()
    return out


def forged(p: Platform) -> dict[str, dict[str, str]]:
    """Tokens that must never pass anywhere."""
    keys = load_settings(p.env).keyring
    admin = Principal(1, "default", frozenset({"admin"}))
    good = issue_token(keys, admin, 600)
    claims = jwt.decode(good, options={"verify_signature": False})
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    return {
        "alg-none": _bearer(jwt.encode(claims, None, algorithm="none")),
        "foreign-key": _bearer(jwt.encode(claims, "f" * 40, algorithm="HS256")),
        "expired": _bearer(issue_token(keys, admin, 60, now=past)),
        "tampered-role": _bearer(_tampered(issue_token(keys, Principal(2, "default", frozenset({"agent"})), 600))),
        "no-exp": _bearer(jwt.encode({k: v for k, v in claims.items() if k != "exp"}, keys.current, "HS256")),
        "garbage": {"Authorization": "Bearer not-a-token"},
        "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    }


def _tampered(token: str) -> str:
    """An agent's real token whose payload now says admin, signature kept."""
    head, _, sig = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False}) | {"roles": ["admin"]}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{sig}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def url(p: Platform, r: R) -> str:
    return f"http://127.0.0.1:{p.ports[r.service]}{r.path}"


def call(p: Platform, r: R, headers: dict[str, str]) -> int:
    # a malformed JSON body: a permitted call fails validation (400) after authentication, changing nothing
    body = (r.body or b"{") if r.method in ("POST", "PUT") else None
    h = {**headers, "Content-Type": "application/json"} if body else headers
    return httpx.request(r.method, url(p, r), content=body, headers=h, timeout=30).status_code


def expected(r: R, who: str) -> str:
    """"pass" (anything but 401/403), "401" or "403"."""
    if r.access == "public":
        return "pass"
    if who == "none" or who == "customer":
        return "401"
    if r.access == "rasa":
        return "pass" if who == "rasa-admin" else "401"
    if r.access in ("actions", "orders", "widget"):
        return "401"
    if who == "rasa-admin":
        return "401"
    role = who.split("@")[0]
    audience = "service" if role == "service" else "staff"
    if audience != r.audience:
        return "401"
    return "pass" if role in r.access or role == "admin" else "403"


def test_every_route_every_identity_every_tenant(platform: Platform) -> None:
    ids = identities(platform)
    walked = refused = 0
    failures = []
    for r in ROUTES:
        for who, headers in ids.items():
            want = expected(r, who)
            if want == "pass" and not r.call_when_allowed:
                continue
            got = call(platform, r, headers)
            walked += 1
            ok = got not in (401, 403) if want == "pass" else got == int(want)
            refused += want != "pass"
            if not ok or got >= 500:
                failures.append(f"{r.method} {r.service}{r.path} as {who}: {got}, wanted {want}")
    assert not failures, "\n".join(failures)
    assert (walked, refused) == (1498, 814)  # the counts docs/security.md reports


def test_forged_tokens_pass_nowhere(platform: Platform) -> None:
    failures = []
    for r in ROUTES:
        if r.access == "public":
            continue
        for name, headers in forged(platform).items():
            got = call(platform, r, headers)
            if got != 401:
                failures.append(f"{r.method} {r.service}{r.path} with {name}: {got}")
    assert not failures, "\n".join(failures)


def test_another_tenants_object_is_not_found(platform: Platform) -> None:
    ids = identities(platform)
    faq = f"http://127.0.0.1:{platform.ports['knowledge']}/api/kb/faqs/faq-order-001"
    assert httpx.get(faq, headers=ids["kb_admin@default"]).status_code == 200
    assert httpx.get(faq, headers=ids["kb_admin@acme"]).status_code == 404
    assert httpx.delete(faq, headers=ids["kb_admin@acme"]).status_code == 404
    listed = httpx.get(faq.rsplit("/", 1)[0], headers=ids["kb_admin@acme"]).json()["items"]
    assert listed == []
    # a service token of tenant acme answers from acme's (empty) KB, whatever the body says
    answer = httpx.post(f"http://127.0.0.1:{platform.ports['knowledge']}/answer", headers=ids["service@acme"],
                        json={"query": "退货运费谁出", "tenant_id": "default"}).json()  # fmt: skip
    assert answer["abstained"] and not answer["citations"]


INJECTIONS = (
    "' OR '1'='1' --",  # SQL
    "1; DROP TABLE cs_faq; --",
    'tenant_id == "acme" or tenant_id != ""',  # Milvus filter expression
    "default\" || tenant_id != \"",
    "*:* OR tenant_id:acme",  # Elasticsearch query syntax
    '{"query": {"match_all": {}}}',
    "<script>alert(1)</script><img src=x onerror=alert(1)>",  # HTML
    "\u202etxt.exe\u200d\u200b",  # RTL override, zero-width joiners
    "../../etc/passwd",
)


def test_injection_strings_are_inert_everywhere(platform: Platform) -> None:
    ids = identities(platform)
    kb = f"http://127.0.0.1:{platform.ports['knowledge']}"
    tried = 0
    for s in INJECTIONS:
        calls = [
            httpx.get(f"{kb}/api/kb/faqs", params={"q": s}, headers=ids["kb_admin@acme"]),
            httpx.get(f"{kb}/api/kb/faqs", params={"category": s}, headers=ids["kb_admin@acme"]),
            httpx.get(f"{kb}/api/kb/faqs/{s}", headers=ids["kb_admin@acme"]),
            httpx.post(f"{kb}/api/kb/ask", json={"query": s}, headers=ids["kb_admin@acme"]),
            httpx.post(f"{kb}/answer", json={"query": s}, headers=ids["service@acme"]),
            httpx.post(f"http://127.0.0.1:{platform.ports['handoff']}/api/auth/login",
                       json={"tenant": "default", "login": s, "password": s}),
            httpx.post(f"{platform.rasa_url}/webhooks/rest/webhook", json={"sender": "inj-1", "message": s}),
        ]  # fmt: skip
        for r in calls:
            tried += 1
            assert r.status_code < 500, (s, r.request.url, r.text[:200])
            assert "Traceback" not in r.text
        # acme has no KB: nothing of tenant default may come back, whatever the string
        assert calls[0].json()["items"] == [] and calls[1].json()["items"] == []
        assert calls[3].json()["abstained"] and calls[4].json()["abstained"]
        reply = calls[6].json()
        assert reply and all(m.get("text") for m in reply) and "<script>" not in str(reply)
    assert tried == len(INJECTIONS) * 7


def test_the_agent_websocket_lets_in_agents_only(platform: Platform) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ids = identities(platform)
    base = f"ws://127.0.0.1:{platform.ports['handoff']}/api/agent/ws"
    for who in ("none", "customer", "kb_admin@default", "service@default", "rasa-admin", *forged(platform)):
        headers = ids.get(who) or forged(platform).get(who) or {}
        token = headers.get("Authorization", " ").split(" ", 1)[1]
        with connect(f"{base}?token={token}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401, who
    for who in ("agent@default", "supervisor@acme"):
        token = ids[who]["Authorization"].split(" ", 1)[1]
        with connect(f"{base}?token={token}") as ws, pytest.raises(TimeoutError):
            ws.recv(timeout=1)  # accepted, and nothing to push yet
