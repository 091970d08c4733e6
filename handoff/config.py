"""Handoff settings (the ``handoff:`` section): timeouts, working hours, queue ageing. Every timeout is in
seconds so tests can run them in a few seconds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import ConfigError
from bot.sections import section_values


@dataclass(frozen=True)
class HandoffConfig:
    silence_seconds: float = 180.0  # ACTIVE → WARNING: remind a customer who went quiet
    close_after_warning_seconds: float = 120.0  # WARNING → CLOSED
    offer_seconds: float = 20.0  # an unanswered offer goes to the next agent
    max_wait_seconds: float = 900.0  # past it the customer is told and may leave a message
    age_step_seconds: float = 120.0  # one priority level = this much waiting (handoff.policy)
    heartbeat_ttl_seconds: float = 60.0  # online while any device beat within it
    position_update_seconds: float = 30.0  # at most one queue-position line per customer this often
    requeue_on_offline: bool = True  # an agent who goes offline: their chats back to the front of the queue
    working_hours: str = "09:00-22:00"
    timezone: str = "Asia/Shanghai"
    default_group: str = "general"
    mean_handle_seconds: float = 300.0  # for the expected wait told to the customer
    tick_seconds: float = 1.0
    # the shop's own push service (APNs/FCM/小程序订阅消息 live there): called for an agent line the customer has
    # not seen within notify_after_seconds; the body is signed with notify_secret (handoff.notify)
    notify_url: str = ""
    notify_secret: str = ""
    notify_after_seconds: float = 60.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> HandoffConfig:
        values = section_values(cls, raw, "handoff")
        cfg = cls(**values)
        cfg.hours()  # validates
        if cfg.notify_url and not cfg.notify_url.startswith(("https://", "http://")):
            raise ConfigError("handoff.notify_url", "an http(s) URL of the shop's push service", cfg.notify_url)
        if cfg.notify_after_seconds < 1:  # a claim must end after the line it covers (handoff.notify)
            raise ConfigError("handoff.notify_after_seconds", "at least 1 second", cfg.notify_after_seconds)
        if cfg.notify_url and len(cfg.notify_secret) < 16:
            raise ConfigError("handoff.notify_secret", "a secret of 16+ characters shared with the push service")
        try:
            ZoneInfo(cfg.timezone)
        except Exception:
            raise ConfigError("handoff.timezone", "an IANA time zone such as Asia/Shanghai", cfg.timezone) from None
        return cfg

    def hours(self) -> tuple[dt.time, dt.time]:
        try:
            start, end = (part.strip() for part in self.working_hours.split("-"))
            return _clock(start), _clock(end)
        except ValueError:
            raise ConfigError("handoff.working_hours", "HH:MM-HH:MM, e.g. 09:00-22:00", self.working_hours) from None

    def on_duty(self, now: float) -> bool:
        start, end = self.hours()
        t = dt.datetime.fromtimestamp(now, ZoneInfo(self.timezone)).time()
        return start <= t < end if start <= end else (t >= start or t < end)  # overnight shifts wrap


def _clock(text: str) -> dt.time:
    if text == "24:00":
        return dt.time.max
    return dt.datetime.strptime(text, "%H:%M").time()
