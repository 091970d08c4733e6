from __future__ import annotations

import datetime as dt

import pytest

from bot.security import (
    AuthError,
    PermissionDenied,
    Principal,
    bearer_token,
    check_password,
    hash_password,
    issue_token,
    mask_pii,
    verify_token,
)

SECRET = "s" * 32


def test_token_roundtrip_and_roles() -> None:
    p = Principal(user_id=7, tenant_id="shop-a", roles=frozenset({"kb_admin"}), name="小王")
    got = verify_token(SECRET, issue_token(SECRET, p))
    assert got == p
    got.require("kb_admin")
    with pytest.raises(PermissionDenied):
        got.require("agent")
    Principal(1, "t", frozenset({"admin"})).require("kb_admin")  # admin holds every role


def test_expired_wrong_secret_garbage_are_rejected() -> None:
    p = Principal(user_id=7, tenant_id="t", roles=frozenset({"agent"}))
    old = issue_token(SECRET, p, ttl_minutes=1, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    with pytest.raises(AuthError, match="expired"):
        verify_token(SECRET, old)
    with pytest.raises(AuthError):
        verify_token("x" * 32, issue_token(SECRET, p))
    with pytest.raises(AuthError):
        verify_token(SECRET, "not.a.token")
    with pytest.raises(AuthError):
        bearer_token(None)
    assert bearer_token("Bearer abc") == "abc"


def test_unknown_roles_in_token_are_dropped() -> None:
    p = Principal(user_id=1, tenant_id="t", roles=frozenset({"agent", "superuser"}))
    assert verify_token(SECRET, issue_token(SECRET, p)).roles == frozenset({"agent"})


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
