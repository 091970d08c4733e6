"""Whose address a per-IP rate limit counts behind load balancers (rate_limit.trusted_proxies)."""

from __future__ import annotations

import pytest

from channels.gateway import client_ip


@pytest.mark.parametrize(
    ("peer", "forwarded", "proxies", "counted"),
    [
        ("203.0.113.9", None, 0, "203.0.113.9"),  # no balancer: the peer
        ("10.0.0.2", "198.51.100.7", 0, "10.0.0.2"),  # a header nobody trusts is ignored
        ("10.0.0.2", "198.51.100.7", 1, "198.51.100.7"),  # one balancer: what it saw
        ("10.0.0.2", "1.2.3.4, 198.51.100.7", 1, "198.51.100.7"),  # the client's own entry is not believed
        ("10.0.0.3", "1.2.3.4, 198.51.100.7, 10.0.0.2", 2, "198.51.100.7"),  # CDN + balancer
        ("10.0.0.2", "198.51.100.7", 3, "198.51.100.7"),  # fewer hops than configured: the leftmost
        ("10.0.0.2", " , ", 1, "10.0.0.2"),  # an empty header: the peer
    ],
)
def test_the_address_the_outermost_trusted_balancer_saw(peer: str, forwarded: str | None, proxies: int,
                                                        counted: str) -> None:  # fmt: skip
    assert client_ip(peer, forwarded, proxies) == counted
