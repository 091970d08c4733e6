"""One compiled word list: every entry in one Aho–Corasick automaton (pyahocorasick), so a message is scanned
once whatever the list's length. A message without a match costs one ``translate`` and one scan; the work of
deciding (allow-list, ASCII word edges, masking) is done only for the few that match.

The automaton holds each word's UTF-8 bytes (as a Latin-1 string) rather than its characters: pyahocorasick
looks a node's children up one by one, and a Chinese list gives the root hundreds of children (one per first
character) but a byte trie at most a few dozen. Measured with 10,000 words: 2.3x faster per message.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

import ahocorasick

from bot.safety.base import BLOCK, MASK, MASK_CHAR, PASS, SEVERITY, Verdict
from bot.safety.normalize import FAST, TABLE, positions
from bot.safety.words import ALLOW, Entry

_LETTERS = frozenset(string.ascii_lowercase)
Hit = tuple[int, int, Entry]  # first and last index in the normalised text, the entry


def _bytes_key(word: str) -> str:
    return word.encode("utf-8", "surrogatepass").decode("latin-1")


class Matcher:
    def __init__(self, entries: Iterable[Entry]) -> None:
        merged: dict[str, Entry] = {}
        for e in entries:  # a later entry for the same word wins: a merchant may soften or harden a shipped word
            merged[e.word] = e
        self.size = len(merged)
        self.automaton = ahocorasick.Automaton()
        for word, e in merged.items():
            self.automaton.add_word(_bytes_key(word), e)
        if merged:
            self.automaton.make_automaton()
        self._iter = self.automaton.iter

    def check(self, text: str) -> Verdict:
        if not self.size:
            return Verdict(PASS, text, text)
        # surrogatepass: a lone surrogate (JSON allows "\ud800") is carried through, not an exception
        key = text.translate(FAST).encode("utf-8", "surrogatepass").decode("latin-1")
        found = self._iter(key)
        first = next(found, None)  # most lines match nothing: no list built for them
        if first is None:
            return Verdict(PASS, text, text)
        hits = []  # each end is a byte offset that ends a whole character: decode the prefix to count characters
        for end, e in (first, *found):
            last = len(key[: end + 1].encode("latin-1").decode("utf-8", "surrogatepass")) - 1
            hits.append((last - len(e.word) + 1, last, e))
        return self._judge(text, hits)

    def _judge(self, text: str, hits: list[Hit]) -> Verdict:
        pos = positions(text)
        allowed = [(s, t) for s, t, e in hits if e.action == ALLOW]
        found = [h for h in hits if h[2].action != ALLOW and not any(a <= h[0] and h[1] <= b for a, b in allowed)
                 and not _inside_ascii_word(text, pos[h[0]], pos[h[1]], h[2].edges)]  # fmt: skip
        if not found:
            return Verdict(PASS, text, text)
        worst = max(found, key=lambda h: (SEVERITY[h[2].action], h[1] - h[0]))
        entry = worst[2]
        masked_all = _mask(text, pos, found)
        if entry.action == BLOCK:
            out = ""
        else:
            masks = [h for h in found if h[2].action == MASK]
            out = _mask(text, pos, masks) if masks else text
        return Verdict(entry.action, out, masked_all, entry.category, entry.rule)


def _inside_ascii_word(text: str, first: int, last: int, edges: tuple[bool, bool]) -> bool:
    """A word with an ASCII end that continues a run of letters in the message: sb in usb, 加v in 加vip (加vx123
    still matches: a WeChat id follows). Checked on the message itself, where spaces still separate words."""
    before = text[first - 1].translate(TABLE) if edges[0] and first > 0 else ""
    after = text[last + 1].translate(TABLE) if edges[1] and last + 1 < len(text) else ""
    return bool(before and before in _LETTERS) or bool(after and after in _LETTERS)


def _mask(text: str, pos: list[int], hits: list[Hit]) -> str:
    chars = list(text)
    for s, t, _ in hits:
        for i in range(pos[s], pos[t] + 1):
            chars[i] = MASK_CHAR
    return "".join(chars)
