"""``safety: {type: wordlist}`` (the default): the shipped Chinese list plus the merchant's own, per tenant.

Options (relative paths are under ``CSBOT_HOME``)::

    safety:
      type: wordlist
      builtin: true                      # the shipped list, bot/safety/lists/zh.txt
      files: [safety/words.txt]          # more lists, same format (bot/safety/words.py)
      words: ["代购发票  fraud", "竞品名  custom  review"]   # lines in the same format
      allow: ["白粉笔"]                   # allow-list: a listed word inside one of these is not a match
      reload_seconds: 30                 # files are re-read this long after they change (0: never)
      tenants:
        shop-a: {files: [...], words: [...], allow: [...]}   # on top of the lists above, for that tenant only

A tenant without its own entries shares the common automaton; each tenant with entries gets its own (built once,
rebuilt when a file changes). Malformed lines are logged with ``file:line`` and skipped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import monotonic
from typing import Any

from bot.errors import ConfigError
from bot.safety.base import Verdict
from bot.safety.matcher import Matcher
from bot.safety.words import ALLOW, BUILTIN, Loaded, parse, read_file
from bot.tenants import TENANT_RE

log = logging.getLogger(__name__)
SECTION = "safety"
LIST_KEYS = ("files", "words", "allow")
OPTION_KEYS = ("builtin", "reload_seconds", "tenants", *LIST_KEYS)


def _strings(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, "a list of strings", value)
    return list(value)


@dataclass(frozen=True)
class Lists:
    """One scope's sources: the common one or a tenant's."""

    files: tuple[Path, ...] = ()
    words: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()

    @classmethod
    def parse(cls, options: Mapping[str, Any], prefix: str, home: Path | None) -> Lists:
        files = tuple(Path(os.path.expanduser(f)) for f in _strings(options.get("files"), f"{prefix}.files"))
        files = tuple(f if f.is_absolute() or home is None else home / f for f in files)
        return cls(files, tuple(_strings(options.get("words"), f"{prefix}.words")),
                   tuple(_strings(options.get("allow"), f"{prefix}.allow")))  # fmt: skip

    def load(self, prefix: str, source: str) -> Loaded:
        out = Loaded()
        for f in self.files:
            out.extend(read_file(f, f"{source}{f.name}"))
        out.extend(parse(self.words, f"{prefix}.words"))
        return out.extend(parse(self.allow, f"{prefix}.allow", default=(ALLOW, ALLOW)))


@dataclass
class WordListFilter:
    builtin: bool = True
    common: Lists = field(default_factory=Lists)
    tenants: Mapping[str, Lists] = field(default_factory=dict)
    reload_seconds: float = 30.0
    blocking = False

    def __post_init__(self) -> None:
        self.problems: list[str] = []
        self._stamps: dict[Path, float | None] = {}
        self._next_look = 0.0
        self._build()

    @classmethod
    def from_options(cls, options: Mapping[str, Any], home: Path | None = None) -> WordListFilter:
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise ConfigError(f"{SECTION}.{unknown[0]}", f"one of {', '.join(OPTION_KEYS)} for type wordlist")
        reload_seconds = options.get("reload_seconds", 30)
        if isinstance(reload_seconds, bool) or not isinstance(reload_seconds, int | float) or reload_seconds < 0:
            raise ConfigError(f"{SECTION}.reload_seconds", "a number of seconds ≥ 0 (0: never)", reload_seconds)
        raw_tenants = options.get("tenants") or {}
        if not isinstance(raw_tenants, Mapping):
            raise ConfigError(f"{SECTION}.tenants", "a mapping of tenant id → {files, words, allow}", raw_tenants)
        tenants = {}
        for tid, conf in raw_tenants.items():
            key = f"{SECTION}.tenants.{tid}"
            if not isinstance(tid, str) or not TENANT_RE.match(tid):
                raise ConfigError(f"{SECTION}.tenants", "tenant ids of 1-64 [A-Za-z0-9_-]", tid)
            if not isinstance(conf, Mapping) or set(conf) - set(LIST_KEYS):
                raise ConfigError(key, "a mapping with files, words and/or allow", conf)
            tenants[tid] = Lists.parse(conf, key, home)
        return cls(bool(options.get("builtin", True)), Lists.parse(options, SECTION, home), tenants,
                   float(reload_seconds))  # fmt: skip

    def check(self, text: str, tenant_id: str) -> Verdict:
        if self.reload_seconds and monotonic() >= self._next_look:
            self._reload_if_changed()
        return self._matchers.get(tenant_id, self._base).check(text)

    @property
    def size(self) -> int:
        return self._base.size

    def _build(self) -> None:
        common = read_file(BUILTIN, "zh") if self.builtin else Loaded()
        common.extend(self.common.load(SECTION, ""))
        problems = list(common.problems)
        base = Matcher(common.entries)
        matchers = {}
        for tid, lists in self.tenants.items():
            own = lists.load(f"{SECTION}.tenants.{tid}", f"{tid}/")
            problems.extend(own.problems)
            matchers[tid] = Matcher([*common.entries, *own.entries])
        self._base, self._matchers, self.problems = base, matchers, problems  # swapped together: readers see one
        self._stamps = self._look()
        self._next_look = monotonic() + self.reload_seconds
        for p in problems[:20]:
            log.warning("safety word list: %s", p)
        if len(problems) > 20:
            log.warning("safety word list: %d more problems", len(problems) - 20)

    def _files(self) -> list[Path]:
        files = [BUILTIN] if self.builtin else []
        return [*files, *self.common.files, *(f for lists in self.tenants.values() for f in lists.files)]

    def _look(self) -> dict[Path, float | None]:
        stamps: dict[Path, float | None] = {}
        for f in self._files():
            try:
                stamps[f] = f.stat().st_mtime
            except OSError:
                stamps[f] = None
        return stamps

    def _reload_if_changed(self) -> None:
        self._next_look = monotonic() + self.reload_seconds
        if self._look() != self._stamps:
            log.info("safety word lists changed on disk: reloading")
            self._build()
