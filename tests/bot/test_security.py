from __future__ import annotations

import datetime as dt
import time

import jwt
import pytest

from bot.security import (
    SERVICE,
    STAFF,
    AuthError,
    Keyring,
    PermissionDenied,
    Principal,
    bearer_token,
    check_password,
    hash_password,
    issue_token,
    kid,
    mask_pii,
    service_token,
    verify_token,
)
from bot.tokens import ServiceTokens

SECRET = "s" * 32
KEYS = Keyring(SECRET)
HOUR = 3600


def test_token_roundtrip_and_roles() -> None:
    p = Principal(user_id=7, tenant_id="shop-a", roles=frozenset({"kb_admin"}), name="小王")
    got = verify_token(KEYS, issue_token(KEYS, p, HOUR))
    assert (got.user_id, got.tenant_id, got.roles, got.name) == (7, "shop-a", p.roles, "小王")
    assert got.token_id and got.expires_at > time.time()
    got.require("kb_admin")
    with pytest.raises(PermissionDenied):
        got.require("agent")
    Principal(1, "t", frozenset({"admin"})).require("kb_admin")  # admin holds every role


def test_expired_wrong_secret_garbage_are_rejected() -> None:
    p = Principal(user_id=7, tenant_id="t", roles=frozenset({"agent"}))
    old = issue_token(KEYS, p, 60, now=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    with pytest.raises(AuthError, match="expired"):
        verify_token(KEYS, old)
    with pytest.raises(AuthError):
        verify_token(Keyring("x" * 32), issue_token(KEYS, p, HOUR))
    with pytest.raises(AuthError):
        verify_token(KEYS, "not.a.token")
    with pytest.raises(AuthError):
        bearer_token(None)
    assert bearer_token("Bearer abc") == "abc"


def _claims(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "7", "tid": "t", "roles": ["admin"], "iss": "csbot", "aud": STAFF, "iat": now,
            "exp": now + 600, **extra}  # fmt: skip


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(_claims(), None, algorithm="none"),  # alg none
        jwt.encode(_claims(), SECRET, algorithm="HS512"),  # another algorithm, same secret
        jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET, algorithm="HS256"),  # no exp
        jwt.encode(_claims(aud=SERVICE), SECRET, algorithm="HS256"),  # another audience
        jwt.encode({k: v for k, v in _claims().items() if k != "aud"}, SECRET, algorithm="HS256"),  # no audience
        jwt.encode(_claims(iss="evil"), SECRET, algorithm="HS256"),  # another issuer
        jwt.encode(_claims(sub="abc"), SECRET, algorithm="HS256"),  # a subject that is not a user id
    ],
)
def test_pinned_algorithm_required_claims_issuer_and_audience(token: str) -> None:
    with pytest.raises(AuthError):
        verify_token(KEYS, token)


def test_a_service_token_is_not_a_staff_token_and_back() -> None:
    svc = service_token(KEYS, "t", "actions", 60)
    assert verify_token(KEYS, svc, SERVICE).roles == frozenset({"service"})
    with pytest.raises(AuthError):
        verify_token(KEYS, svc)  # staff audience
    staff = issue_token(KEYS, Principal(1, "t", frozenset({"admin"})), HOUR)
    with pytest.raises(AuthError):
        verify_token(KEYS, staff, SERVICE)


def test_key_rotation_keeps_both_keys_valid_during_the_switch() -> None:
    old, new = Keyring("o" * 32), Keyring("n" * 32, ("o" * 32,))
    p = Principal(1, "t", frozenset({"agent"}))
    issued_before = issue_token(old, p, HOUR)
    assert verify_token(new, issued_before).user_id == 1  # the old key still verifies during the switch
    assert verify_token(new, issue_token(new, p, HOUR)).user_id == 1  # the new one signs
    assert jwt.get_unverified_header(issue_token(new, p, HOUR))["kid"] == kid("n" * 32)
    with pytest.raises(AuthError):
        verify_token(Keyring("n" * 32), issued_before)  # once the old key is removed, its tokens end
    with pytest.raises(AuthError):
        verify_token(old, issue_token(new, p, HOUR))  # a process not yet rotated doesn't know the new key


def test_unknown_roles_in_token_are_dropped() -> None:
    p = Principal(user_id=1, tenant_id="t", roles=frozenset({"agent", "superuser"}))
    assert verify_token(KEYS, issue_token(KEYS, p, HOUR)).roles == frozenset({"agent"})


def test_service_tokens_renew_before_they_expire() -> None:
    now = [1000.0]
    tokens = ServiceTokens(KEYS, "actions", ttl_seconds=2, clock=lambda: now[0])
    first = tokens.token("t")
    assert tokens.token("t") == first  # cached
    now[0] += 1.1  # past half the lifetime: re-minted before it can expire
    second = tokens.token("t")
    assert second != first
    assert tokens.token("other") != second  # one per tenant
    assert verify_token(KEYS, tokens.token("other"), SERVICE).tenant_id == "other"


def test_a_service_token_of_seconds_keeps_working_in_real_time() -> None:
    tokens = ServiceTokens(KEYS, "actions", ttl_seconds=2)
    for _ in range(4):  # 3.6 s: any single token minted at the start would have expired
        verify_token(KEYS, tokens.token("t"), SERVICE)
        time.sleep(0.9)


def test_password_hash() -> None:
    h = hash_password("hunter2-密码")
    assert check_password("hunter2-密码", h)
    assert not check_password("hunter3", h)
    assert not check_password("x", "garbage")


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("我手机13812345678收不到", "我手机<手机号>收不到"),
        ("电话 138-1234-5678", "电话 <手机号>"),
        ("身份证330106199001011234", "身份证<身份证>"),
        ("卡号6222021234567890123退款", "卡号<银行卡>退款"),
        ("邮箱 a.b@xiaoman.example", "邮箱 <邮箱>"),
        ("客服热线0571-88886666", "客服热线<电话>"),
        ("订单250316084512367890到哪了", "订单250316084512367890到哪了"),  # order ids are not PII
    ],
)
def test_mask_pii(raw: str, masked: str) -> None:
    assert mask_pii(raw) == masked
