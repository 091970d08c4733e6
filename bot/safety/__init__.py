"""Content safety (seed §2.4.7): customers' and agents' lines checked against sensitive words.

``create_filter(settings)`` builds the filter ``safety.type`` names — ``wordlist`` (default), ``http``, ``off`` or a
dotted class path with ``from_options(options, home)`` — like Rasa's event brokers. Callers: the customer
channels through ``channels.gateway`` (``bot.safety.screen``), agents through ``handoff.service.send``; what
is refused or flagged goes to the audit log (``bot.safety.record``) with the category and rule, never the words.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from bot.errors import ConfigError
from bot.safety.base import BLOCK, MASK, PASS, REVIEW, ContentFilter, OffFilter, Verdict, label
from bot.settings import Settings

SECTION = "safety"
BUILTIN: Mapping[str, str] = {
    "wordlist": "bot.safety.wordlist.WordListFilter",
    "http": "bot.safety.http.HttpFilter",
    "off": "bot.safety.base.OffFilter",
}

__all__ = ["BLOCK", "MASK", "PASS", "REVIEW", "ContentFilter", "OffFilter", "Verdict", "create_filter",
           "default_filter", "label"]  # fmt: skip


def create_filter(settings: Settings) -> ContentFilter:
    from bot.plugins import load_class

    backend = settings.backend(SECTION)
    cls = load_class(backend.type, SECTION, BUILTIN)
    f = cls.from_options(backend.options, settings.home)
    if not isinstance(f, ContentFilter):
        raise ConfigError(f"{SECTION}.type", "a class whose instances have check() and blocking", backend.type)
    return f


@lru_cache(maxsize=1)
def default_filter() -> ContentFilter:
    """The shipped list alone, for a service built without settings (tests, tools)."""
    from bot.safety.wordlist import WordListFilter

    return WordListFilter(reload_seconds=0)
