"""The ration of agent lines on WeChat (pure)."""

from __future__ import annotations

from handoff.quota import Quota, quota

H = 3600.0


def test_five_lines_within_48_hours_of_the_customers_last_message() -> None:
    assert quota("web", 0.0, 9, 10.0) is None  # the web chat has no ration
    assert quota("wechat", 1000.0, 0, 1000.0 + H) == Quota(5, 1000.0 + 48 * H)
    assert quota("wechat", 1000.0, 3, 1000.0 + H).remaining == 2
    assert quota("wechat", 1000.0, 7, 1000.0 + H).remaining == 0
    assert quota("wechat", 1000.0, 0, 1000.0 + 48 * H + 1).remaining == 0  # the window closed
    assert quota("wechat", None, 0, 5.0) == Quota(0, 5.0)
