"""What every content filter answers (seed §2.4.7 内容安全): a ``Verdict`` per message, behind one Protocol.

Actions, most severe last: ``pass`` (nothing found), ``mask`` (the words become ＊ and the line goes on:
profanity), ``review`` (the line goes on unchanged and is recorded for a person to look at: a customer asking
to move to WeChat is not forbidden, an agent doing it may be), ``block`` (refused: nothing stored or delivered,
the refusal recorded).

Runs in both runtimes (the Rasa server's Python 3.10 and the services' 3.11): standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

PASS, MASK, REVIEW, BLOCK = "pass", "mask", "review", "block"
ACTIONS = (PASS, MASK, REVIEW, BLOCK)  # in order of severity
SEVERITY = {a: i for i, a in enumerate(ACTIONS)}
MASK_CHAR = "＊"

# category id → (label shown to people, default action); a list may name other categories (default: block)
CATEGORIES: Mapping[str, tuple[str, str]] = {
    "contraband": ("违禁品", BLOCK),
    "gambling": ("赌博", BLOCK),
    "porn": ("色情", BLOCK),
    "fraud": ("诈骗引流", BLOCK),
    "offsite": ("站外交易", REVIEW),
    "abuse": ("辱骂", MASK),
    "custom": ("自定义", BLOCK),
}
BY_LABEL = {label: cid for cid, (label, _) in CATEGORIES.items()}


def category_id(name: str) -> str:
    """A category's id from its id or its Chinese label (``赌博`` → ``gambling``); other names stay as given."""
    return BY_LABEL.get(name, name)


def label(category: str | None) -> str:
    return CATEGORIES[category][0] if category in CATEGORIES else (category or "")


@dataclass(slots=True)  # not frozen: a frozen dataclass costs 4x as much to build, once per message
class Verdict:
    """What a filter decided about one message.

    ``text`` is what may go on (the original, or with masked words as ＊; empty when blocked); ``masked_text``
    has every matched word as ＊, the only form a record may keep. ``category``/``rule`` name the most severe
    match (``rule`` points into the list, e.g. ``zh:120``, without repeating the word).
    """

    action: str
    text: str
    masked_text: str
    category: str | None = None
    rule: str | None = None

    @property
    def allowed(self) -> bool:
        return self.action != BLOCK

    @property
    def blocked(self) -> bool:
        return self.action == BLOCK

    @property
    def label(self) -> str:
        return label(self.category)


def passed(text: str) -> Verdict:
    return Verdict(PASS, text, text)


@runtime_checkable
class ContentFilter(Protocol):
    """``check`` one message of a tenant. ``blocking`` says whether ``check`` waits on I/O (an HTTP service):
    async callers then run it in a thread. Built by ``from_options(options, home)`` (``safety.type``)."""

    blocking: bool

    def check(self, text: str, tenant_id: str) -> Verdict: ...


class OffFilter:
    """``safety: {type: off}``: every message passes."""

    blocking = False

    @classmethod
    def from_options(cls, options: Mapping[str, Any], home: Path | None = None) -> OffFilter:
        return cls()

    def check(self, text: str, tenant_id: str) -> Verdict:
        return passed(text)
