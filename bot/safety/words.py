"""Word lists: the shipped one (``bot/safety/lists/zh.txt``) and the merchant's own files and words.

One entry a line, ``#`` starts a comment::

    [赌博]                    # a section: the category (id or Chinese label) of the lines below, and
    网上赌场                   #   its default action (赌博 → block; see base.CATEGORIES)
    百家乐代理    gambling  review      # columns (tab or spaces): word, category (- = the section's), action
    [abuse mask]              # a section may name its action too
    [allow]                   # allow-list: a listed word inside one of these is not a match

Actions: block, mask, review, allow. A malformed line is reported as ``file:line: why`` and skipped; the rest
of the file loads. Words are stored normalised (``normalize``); a word must keep two characters after that —
one character matches inside too many ordinary words (操 in 操作).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.safety.base import ACTIONS, CATEGORIES, PASS, category_id
from bot.safety.normalize import normalize

ALLOW = "allow"
LINE_ACTIONS = (*(a for a in ACTIONS if a != PASS), ALLOW)
BUILTIN = Path(__file__).resolve().parent / "lists" / "zh.txt"
MAX_WORD = 50
_CATEGORY_RE = re.compile(r"^[\w-]{1,32}$")
_LETTERS = frozenset(string.ascii_lowercase)


@dataclass(frozen=True)
class Entry:
    word: str  # normalised
    category: str
    action: str  # block | mask | review | allow
    rule: str  # where it came from: "<source>:<line>"
    # begins / ends with an ASCII letter: must not continue a run of letters there (sb in usb, 加v in 加vip)
    edges: tuple[bool, bool] = (False, False)


@dataclass
class Loaded:
    entries: list[Entry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: why"

    def extend(self, other: Loaded) -> Loaded:
        self.entries.extend(other.entries)
        self.problems.extend(other.problems)
        return self


def _section(body: str) -> tuple[str, str] | str:
    """(category, action) from ``[category action?]``, or why not."""
    parts = body.split()
    if not parts or len(parts) > 2:
        return "a section is [category] or [category action]"
    if parts[0] == ALLOW:
        return ALLOW, ALLOW
    category = category_id(parts[0])
    if not _CATEGORY_RE.match(category):
        return f"category {parts[0]!r}: at most 32 letters, digits, _ or -"
    action = parts[1] if len(parts) == 2 else CATEGORIES.get(category, ("", "block"))[1]
    if action not in LINE_ACTIONS:
        return f"unknown action {action!r} (expected {', '.join(LINE_ACTIONS)})"
    return category, action


def parse(lines: Iterable[str | None], source: str, default: tuple[str, str] = ("custom", "block")) -> Loaded:
    """Entries of one list; ``None`` stands for a line that could not be decoded. ``source`` names the rules."""
    out = Loaded()
    section = default
    for n, raw in enumerate(lines, 1):
        where = f"{source}:{n}"
        if raw is None:
            out.problems.append(f"{where}: not UTF-8")
            continue
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            parsed = _section(line[1:-1]) if line.endswith("]") else "a section line ends with ]"
            if isinstance(parsed, str):
                out.problems.append(f"{where}: {parsed}")
                section = ("", "")  # the lines of a broken section are skipped, not filed under another
            else:
                section = parsed
            continue
        entry = _entry(line, section, where)
        if isinstance(entry, str):
            out.problems.append(f"{where}: {entry}")
        else:
            out.entries.append(entry)
    return out


def _entry(line: str, section: tuple[str, str], rule: str) -> Entry | str:
    cols = line.split("\t") if "\t" in line else line.split()
    cols = [c.strip() for c in cols if c.strip()]
    if len(cols) > 3:
        return f"expected word, category, action; got {len(cols)} columns"
    word = normalize(cols[0])
    if len(word) < 2:
        return "a word needs at least two characters (not counting spaces and punctuation)"
    if len(word) > MAX_WORD:
        return f"a word has at most {MAX_WORD} characters"
    category, action = section
    if len(cols) >= 2 and cols[1] != "-":
        category = category_id(cols[1])
        if not _CATEGORY_RE.match(category):
            return f"category {cols[1]!r}: at most 32 letters, digits, _ or -"
        action = CATEGORIES.get(category, ("", "block"))[1]
    if len(cols) == 3:
        action = cols[2]
    if not category:
        return "under a broken section"
    if action not in LINE_ACTIONS:
        return f"unknown action {action!r} (expected {', '.join(LINE_ACTIONS)})"
    return Entry(word, category, action, rule, (word[0] in _LETTERS, word[-1] in _LETTERS))


def read_file(path: Path, source: str | None = None, default: tuple[str, str] = ("custom", "block")) -> Loaded:
    """A list file; a line that is not UTF-8 is reported and skipped, a missing file is one problem."""
    source = source or path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Loaded(problems=[f"{path}: cannot read ({exc.strerror or exc})"])
    lines: list[str | None] = []
    for raw in data.splitlines():
        try:
            lines.append(raw.decode("utf-8-sig" if not lines else "utf-8"))
        except UnicodeDecodeError:
            lines.append(None)
    return parse(lines, source, default)
