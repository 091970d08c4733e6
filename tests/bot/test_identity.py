"""Customer identity: only what the shop signed, sealed per conversation on the way to the actions."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bot.errors import ConfigError, CsbotError
from bot.identity import (
    METADATA_KEY,
    Customer,
    IdentityError,
    ShopKeys,
    anonymous,
    customer_token,
    seal,
    seal_secret,
    shop_token,
    strip_claims,
    unseal,
)
from bot.settings import Settings, load_settings
from channels.gateway import Gateway, slow_down_text

SHOP_A = "a" * 32


def settings_with(env: dict[str, str], tenants: dict[str, object]) -> Settings:
    return load_settings(env, {"identity": {"tenants": tenants}})


def _claims(**extra: object) -> dict[str, object]:
    now = dt.datetime.now(dt.timezone.utc)
    return {"sub": "c-42", "tid": "shopa", "aud": "csbot", "exp": now + dt.timedelta(minutes=5), **extra}


def _hs256_signed_with(key: bytes, claims: dict[str, object]) -> str:
    """An HS256 token over ``key`` built by hand (PyJWT itself refuses to use a PEM as an HMAC secret)."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = {k: int(v.timestamp()) if isinstance(v, dt.datetime) else v for k, v in claims.items()}
    signing = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(body).encode())}"
    return f"{signing}.{b64(hmac.new(key, signing.encode(), hashlib.sha256).digest())}"


def test_a_shop_token_names_its_customer_and_tenant(env: dict[str, str]) -> None:
    keys = ShopKeys.from_settings(settings_with(env, {"shopa": {"secret": SHOP_A}}))
    who = keys.verify(shop_token(SHOP_A, "shopa", "c-42", name="小李"))
    assert who == Customer("shopa", "c-42", "shop_jwt", "小李") and who.conversation_id() == "shopa:c-42"


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(_claims(), "b" * 32, algorithm="HS256"),  # another shop's key
        jwt.encode(_claims(tid="shopb"), SHOP_A, algorithm="HS256"),  # a tenant with no key
        jwt.encode(_claims(aud="other"), SHOP_A, algorithm="HS256"),
        jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SHOP_A, algorithm="HS256"),
        jwt.encode(_claims(exp=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)), SHOP_A, algorithm="HS256"),
        jwt.encode(_claims(), None, algorithm="none"),
        jwt.encode(_claims(sub="x" * 65), SHOP_A, algorithm="HS256"),
        jwt.encode(_claims(sub="a:b"), SHOP_A, algorithm="HS256"),  # would forge a conversation id
        jwt.encode(_claims(sub="\u202eevil"), SHOP_A, algorithm="HS256"),  # RTL override in an id
        "not.a.jwt",
        "",
    ],
)
def test_tokens_the_shop_did_not_sign_as_they_are_are_refused(env: dict[str, str], token: str) -> None:
    keys = ShopKeys.from_settings(settings_with(env, {"shopa": {"secret": SHOP_A}}))
    with pytest.raises(IdentityError):
        keys.verify(token)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_shop_that_signs_with_a_private_key(env: dict[str, str], tmp_path: Path, algorithm: str) -> None:
    private = rsa.generate_private_key(65537, 2048) if algorithm == "RS256" else ec.generate_private_key(ec.SECP256R1())
    pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (tmp_path / "shop.pem").write_bytes(pem)
    s = settings_with(env, {"shopa": {"public_key_file": str(tmp_path / "shop.pem"), "algorithm": algorithm}})
    keys = ShopKeys.from_settings(s)
    assert keys.verify(jwt.encode(_claims(), private, algorithm=algorithm)).customer_id == "c-42"
    with pytest.raises(IdentityError):  # the public key used as an HMAC secret (the classic confusion)
        keys.verify(_hs256_signed_with(pem, _claims()))
    with pytest.raises(CsbotError):  # only the shop can sign for it
        customer_token(s, "c-42", "shopa")


@pytest.mark.parametrize(
    "conf", [{"secret": "short"}, {"public_key_file": "/nonexistent.pem"}, {"public_key": "x", "algorithm": "HS256"}, 5]
)
def test_bad_identity_config_is_named(env: dict[str, str], conf: object) -> None:
    with pytest.raises(ConfigError, match=r"identity\.tenants\.shopa"):
        ShopKeys.from_settings(settings_with(env, {"shopa": conf}))


def test_the_demo_shop_of_a_home_signs_for_the_default_tenant(settings: Settings) -> None:
    who = ShopKeys.from_settings(settings).verify(customer_token(settings, "u1001"))
    assert (who.tenant_id, who.customer_id) == ("default", "u1001")


def test_a_seal_holds_for_its_conversation_only(settings: Settings) -> None:
    secret = seal_secret(settings)
    who = Customer("default", "u1001", "shop_jwt")
    meta = {METADATA_KEY: seal(who, "default:u1001", secret)}
    assert unseal(meta, "default:u1001", secret) == who
    assert unseal(meta, "default:u1002", secret) is None  # replayed elsewhere
    assert unseal(meta, "default:u1001", "x" * 64) is None  # another home's
    assert unseal({METADATA_KEY: seal(who, "default:u1001", secret, seconds=-1)}, "default:u1001", secret) is None
    assert unseal({"customer_id": "u1001"}, "default:u1001", secret) is None
    assert unseal(None, "x", secret) is None
    assert unseal({METADATA_KEY: seal(anonymous("default"), "v1", secret)}, "v1", secret) == anonymous("default")
    claimed = {"customer_id": "u1", "tenant_id": "t", METADATA_KEY: "x", "page": "/cart"}
    assert strip_claims(claimed) == {"page": "/cart"}
    assert strip_claims([1, 2]) == {}


def test_the_gateway_identifies_seals_and_limits(settings: Settings) -> None:
    gw = Gateway.from_settings(settings, {"per_conversation": "3/10s", "per_ip": "5/10s"})
    customer, conv = gw.identify(f"Bearer {customer_token(settings, 'u1001')}", "ignored-sender")
    assert conv == "default:u1001" and customer.customer_id == "u1001"
    visitor, conv2 = gw.identify(None, "web-123")
    assert conv2 == "web-123" and not visitor.identified
    with pytest.raises(ValueError):
        gw.identify(None, "default:u1001")  # an anonymous client may not name a customer's conversation
    for header in ("Basic abc", "Bearer ", "Bearer nope"):
        with pytest.raises(IdentityError):
            gw.identify(header, "x")
    meta = gw.metadata(customer, conv, {"customer_id": "u9", "page": "/cart"})
    assert meta["page"] == "/cart" and "customer_id" not in meta
    assert unseal(meta, conv, seal_secret(settings)) == customer

    async def burst() -> list[bool]:
        return [(await gw.admit("c1", "1.2.3.4")).allowed for _ in range(4)]

    assert asyncio.run(burst()) == [True, True, True, False]  # per conversation
    decisions = [asyncio.run(gw.admit(f"other-{i}", "1.2.3.4")) for i in range(2)]
    assert [d.allowed for d in decisions] == [True, False]  # the IP's 5 are spent (4 + 1)
    assert "秒后再发" in slow_down_text(decisions[-1])
