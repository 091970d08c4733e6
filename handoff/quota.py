"""How many more lines an agent may send on a channel that rations them. WeChat's 客服消息: after a customer's
message, at most 5 messages within 48 hours (45015/45047 past that). Pure; the system lines the customer gets
during a handoff (the agent's greeting, transfer notices) use the same quota, so the count is a ceiling."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# channel → (messages, seconds) per customer message: 客服消息 and WeCom's kf/send_msg
RATIONED = {"wechat": (5, 48 * 3600.0), "wecom_kf": (5, 48 * 3600.0)}


@dataclass(frozen=True)
class Quota:
    remaining: int
    window_ends: float  # epoch seconds; after it, nothing goes out until the customer writes

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def quota(channel: str, last_customer_at: float | None, agent_lines_since: int, now: float) -> Quota | None:
    """None for channels without a ration."""
    if channel not in RATIONED:
        return None
    per_message, window = RATIONED[channel]
    if last_customer_at is None:
        return Quota(0, now)
    ends = last_customer_at + window
    return Quota(max(0, per_message - agent_lines_since) if now < ends else 0, ends)
