"""Settings sections read into typed dataclasses (``knowledge:``, ``handoff:``): an unknown key or a value of
the wrong type stops with one line naming the key and the expected form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from bot.errors import ConfigError


def section_values(cls: Any, raw: Mapping[str, Any] | None, section: str) -> dict[str, Any]:
    """The constructor arguments of dataclass ``cls`` from the raw section; types follow the defaults."""
    raw = dict(raw or {})
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{section}.{unknown[0]}", f"one of {', '.join(known)}")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        kind = type(known[name].default)
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f"{section}.{name}", "true or false", value)
        elif kind in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{section}.{name}", "a number", value)
            value = kind(value)
        elif kind is str and not isinstance(value, str):
            raise ConfigError(f"{section}.{name}", "a string", value)
        values[name] = value
    return values
