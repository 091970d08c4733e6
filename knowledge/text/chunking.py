"""Chinese-aware paragraph chunking.

Paragraphs (blank lines, headings) are the unit; long paragraphs are cut at sentence ends (。！？；!?;
and newlines), short neighbours are merged up to ``size`` characters, and each chunk after the first in a
section starts with up to ``overlap`` characters of whole sentences from the previous chunk. Markdown
headings become the section title carried by every chunk under them, which helps retrieval of short chunks.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[。！？；!?;…])|\n")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class Section:
    idx: int
    heading: str
    content: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.heading}\n{self.content}".encode()).hexdigest()

    def embed_text(self, title: str) -> str:
        head = " / ".join(p for p in (title, self.heading) if p)
        return f"{head}\n{self.content}" if head else self.content


def _sentences(paragraph: str) -> list[str]:
    return [s for s in (p.strip() for p in _SENTENCE_END.split(paragraph)) if s]


def _hard_split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _blocks(text: str) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs in reading order."""
    heading = ""
    out: list[tuple[str, str]] = []
    buf: list[str] = []

    def flush() -> None:
        para = "\n".join(buf).strip()
        if para:
            out.append((heading, para))
        buf.clear()

    for line in text.splitlines():
        m = _HEADING.match(line)
        if m:
            flush()
            heading = m.group(2).strip()
        elif not line.strip():
            flush()
        else:
            buf.append(line.rstrip())
    flush()
    return out


def chunk_text(text: str, size: int = 400, overlap: int = 60) -> list[Section]:
    if size < 50 or not 0 <= overlap < size // 2:
        raise ValueError("chunk size must be >= 50 and overlap in [0, size/2)")
    sections: list[Section] = []
    heading = ""
    cur: list[str] = []  # sentences of the chunk being built (overlap tail first)
    cur_len = 0
    fresh = 0  # characters in ``cur`` not already emitted (overlap excluded)

    def emit(carry: bool) -> None:
        nonlocal cur, cur_len, fresh
        if fresh:
            sections.append(Section(len(sections), heading, "".join(cur).strip()))
        tail: list[str] = []
        tail_len = 0
        for s in reversed(cur if carry else []):
            if tail_len + len(s) > overlap:
                break
            tail.insert(0, s)
            tail_len += len(s)
        cur, cur_len, fresh = tail, tail_len, 0

    for block_heading, para in _blocks(text):
        if block_heading != heading:
            emit(carry=False)  # no overlap across sections
            heading = block_heading
        pieces: list[str] = []
        for s in _sentences(para):
            pieces.extend(_hard_split(s, size) if len(s) > size else [s])
        if cur and fresh:
            cur[-1] = cur[-1].rstrip("\n") + "\n"  # keep the paragraph break visible
        for piece in pieces:
            if fresh and cur_len + len(piece) > size:
                emit(carry=True)
            cur.append(piece)
            cur_len += len(piece)
            fresh += len(piece)
    emit(carry=False)
    return sections
