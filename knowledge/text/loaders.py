"""Read one file into plain text, or fail with a one-line reason (per-file errors, never half a file)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from bot.errors import InvalidInput

DOC_TYPES = {".md": "md", ".markdown": "md", ".txt": "txt", ".html": "html", ".htm": "html",
             ".pdf": "pdf", ".docx": "docx"}  # fmt: skip
FAQ_TYPES = {".jsonl": "jsonl", ".csv": "csv", ".yaml": "yaml", ".yml": "yaml"}


class LoadError(InvalidInput):
    """This file cannot be imported; the message says why in one line."""


@dataclass(frozen=True)
class LoadedText:
    title: str
    text: str
    file_type: str
    encoding: str = "utf-8"


def read_bytes(path: Path, max_bytes: int) -> bytes:
    if not path.is_file():
        raise LoadError(f"{path}: not a file")
    size = path.stat().st_size
    if size == 0:
        raise LoadError(f"{path.name}: empty file")
    if size > max_bytes:
        raise LoadError(f"{path.name}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
    return path.read_bytes()


def decode_text(data: bytes, name: str) -> tuple[str, str]:
    """UTF-8 first; otherwise a confidently detected encoding (GBK/GB18030/Big5 are common); else an error."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.chaos > 0.2 or b"\x00" in data:
        raise LoadError(f"{name}: not UTF-8 text and no encoding could be detected (binary file?)")
    return str(best), best.encoding


def _html_text(raw: str) -> tuple[str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "footer"]):
        tag.decompose()
    title = soup.title.get_text(strip=True) if soup.title else ""
    # headings become markdown headings so the chunker keeps them as section titles
    for level in range(1, 7):
        for h in soup.find_all(f"h{level}"):
            h.replace_with(f"\n\n{'#' * level} {h.get_text(' ', strip=True)}\n\n")
    for block in soup.find_all(["p", "li", "div", "br", "tr"]):
        block.insert_after("\n\n" if block.name in ("p", "div") else "\n")
    return title, soup.get_text()


def _pdf_text(data: bytes, name: str) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise LoadError(f"{name}: unreadable PDF ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # pypdf raises many internal types on damaged files
        raise LoadError(f"{name}: unreadable PDF ({type(exc).__name__})") from None
    return "\n\n".join(pages)


def _docx_text(data: bytes, name: str) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # zipfile.BadZipFile, KeyError, lxml errors on damaged files
        raise LoadError(f"{name}: unreadable DOCX ({type(exc).__name__})") from None
    lines: list[str] = []
    for p in document.paragraphs:
        style = (p.style.name or "").lower() if p.style is not None else ""
        if style.startswith("heading") and p.text.strip():
            level = "".join(ch for ch in style if ch.isdigit()) or "1"
            lines.extend(["", "#" * min(int(level), 6) + " " + p.text.strip(), ""])
        else:
            lines.append(p.text)
            lines.append("")
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n".join(lines)


def load_document(path: Path, max_bytes: int) -> LoadedText:
    ext = path.suffix.lower()
    file_type = DOC_TYPES.get(ext)
    if file_type is None:
        raise LoadError(f"{path.name}: unsupported file type {ext or '(none)'}")
    data = read_bytes(path, max_bytes)
    encoding = "binary"
    title = ""
    if file_type == "pdf":
        text = _pdf_text(data, path.name)
    elif file_type == "docx":
        text = _docx_text(data, path.name)
    else:
        text, encoding = decode_text(data, path.name)
        if file_type == "html":
            title, text = _html_text(text)
    if file_type == "md" or not title:
        for line in text.splitlines():
            if line.startswith("# "):
                title = line[2:].strip()
                break
    if not text.strip():
        raise LoadError(f"{path.name}: no text could be extracted")
    return LoadedText(title=title or path.stem, text=text, file_type=file_type, encoding=encoding)
