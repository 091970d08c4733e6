"""The web chat's session token and Origin rule (channels/widget_session.py): pure functions."""

from __future__ import annotations

import time

import jwt

from bot.identity import Customer
from channels import widget_session as ws

SECRET = "s" * 32


def test_a_minted_token_names_its_conversation_and_nothing_else_verifies() -> None:
    visitor = ws.new_anonymous("default")
    token = ws.mint(visitor, SECRET)
    back = ws.verify(token, SECRET)
    assert back is not None and back.conversation_id == visitor.conversation_id and not back.customer.identified
    assert visitor.conversation_id.startswith("w-")
    assert ws.new_anonymous("default").conversation_id != visitor.conversation_id
    assert ws.verify(token, "t" * 32) is None  # another platform's secret
    assert ws.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), SECRET) is None
    for junk in (None, "", 42, "x" * 5000, "a.b.c", visitor.conversation_id):
        assert ws.verify(junk, SECRET) is None
    # a token of the right secret but another audience (a sealed identity, a staff token) is not a session
    other = jwt.encode({"aud": "csbot-identity", "sid": "w-1", "tid": "default", "exp": time.time() + 60}, SECRET)
    assert ws.verify(other, SECRET) is None


def test_a_customer_session_carries_the_customer_and_ends_with_the_shop_token() -> None:
    shopper = ws.for_customer(Customer("default", "u1001", "shop_jwt"), time.time() + 60)
    back = ws.verify(ws.mint(shopper, SECRET), SECRET)
    assert back is not None and back.conversation_id == "default:u1001" and back.customer.customer_id == "u1001"
    assert ws.verify(ws.mint(shopper, SECRET), SECRET, now=time.time() + 61) is None


def test_origins() -> None:
    assert ws.origin_allowed(None, "127.0.0.1:5005", [])  # not a browser
    assert ws.origin_allowed("http://127.0.0.1:5005", "127.0.0.1:5005", [])  # the platform's own page
    assert not ws.origin_allowed("https://evil.example", "127.0.0.1:5005", [])
    assert ws.origin_allowed("https://shop.example/", "127.0.0.1:5005", ["https://shop.example"])
    assert not ws.origin_allowed("https://shop.example.evil.example", "x", ["https://shop.example"])
    assert ws.origin_allowed("https://anyone.example", "x", ["*"])
