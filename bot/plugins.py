"""Backends chosen by ``type:`` (like Rasa's endpoints.yml): a built-in name or a dotted class path, imported
only when chosen, so an engine nobody configured never needs to be installed."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from bot.errors import ConfigError


def load_class(type_: str, section: str, builtin: Mapping[str, str] | None = None) -> Any:
    """The class ``type_`` names: ``builtin[type_]`` or ``type_`` itself as ``package.module.Class``."""
    builtin = builtin or {}
    dotted = builtin.get(type_, type_)
    module_name, _, cls_name = dotted.rpartition(".")
    if not module_name:
        raise ConfigError(f"{section}.type", f"one of {', '.join(builtin) or 'the built-ins'} or a dotted class path",
                          type_)  # fmt: skip
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{section}.type", "an importable class", f"{type_} ({exc})") from None
    if not callable(getattr(cls, "from_options", None)):
        raise ConfigError(f"{section}.type", "a class with from_options(...)", type_)
    return cls
