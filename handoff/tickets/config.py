"""Ticket settings (the ``tickets:`` section; defaults in ``bot.settings.DEFAULTS``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ConfigError

PRIORITIES = (1, 2, 3, 4)  # 1=紧急 2=高 3=中 4=低
DEFAULT_SLA = {1: 30, 2: 60, 3: 120, 4: 480}


@dataclass(frozen=True)
class TicketsConfig:
    sla_minutes: Mapping[int, int] = field(default_factory=lambda: dict(DEFAULT_SLA))
    sweep_seconds: float = 5.0  # how often the handoff clock turns left messages into tickets and checks SLAs
    number_prefix: str = "T"  # ticket numbers read T + local date + a daily sequence: T2601010007
    timezone: str = "Asia/Shanghai"  # the day of the ticket number

    def sla(self, priority: int) -> int:
        return int(self.sla_minutes[priority])

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> TicketsConfig:
        raw = dict(raw or {})
        known = {"sla_minutes", "sweep_seconds", "number_prefix", "timezone"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"tickets.{unknown[0]}", f"one of {', '.join(sorted(known))}")
        sla = _sla(raw.get("sla_minutes"))
        sweep = raw.get("sweep_seconds", 5.0)
        if isinstance(sweep, bool) or not isinstance(sweep, int | float) or not 0 <= sweep <= 3600:
            raise ConfigError("tickets.sweep_seconds", "a number of seconds from 0 to 3600", sweep)
        prefix = raw.get("number_prefix", "T")
        if not isinstance(prefix, str) or not prefix.isalnum() or len(prefix) > 4:
            raise ConfigError("tickets.number_prefix", "1-4 letters or digits", prefix)
        tz = raw.get("timezone", "Asia/Shanghai")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(str(tz))
        except Exception:
            raise ConfigError("tickets.timezone", "an IANA time zone such as Asia/Shanghai", tz) from None
        return cls(sla, float(sweep), prefix, str(tz))


def _sla(raw: Any) -> dict[int, int]:
    """Minutes per priority. YAML gives int keys, the environment (CSBOT_TICKETS__SLA_MINUTES__3=90) string keys
    merged beside the defaults' int keys: the environment is read last, so a string key wins over its int twin."""
    out = dict(DEFAULT_SLA)
    if raw is None:
        return out
    if not isinstance(raw, Mapping):
        raise ConfigError("tickets.sla_minutes", "a mapping of priority 1-4 to minutes, e.g. {1: 30, 3: 120}", raw)
    for key, value in sorted(raw.items(), key=lambda kv: isinstance(kv[0], str)):
        prio = int(key) if isinstance(key, int) or (isinstance(key, str) and key.isdigit()) else None
        if prio not in PRIORITIES:
            raise ConfigError("tickets.sla_minutes", "keys 1 to 4 (the priorities)", key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60 * 24 * 30:
            raise ConfigError(f"tickets.sla_minutes.{prio}", "whole minutes from 1 to 43200", value)
        out[prio] = value
    return out
