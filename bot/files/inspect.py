"""What a file really is, judged by its bytes, and the clean copy that gets stored (seed §2 File-Service).

Pure functions; no storage. The extension and the declared content type are never trusted: an executable
renamed ``.jpg`` has no image signature and is refused. Images are decoded only after their header says
their size is sane (a decompression bomb is refused before it is expanded), then re-encoded from pixels,
which drops EXIF, GPS and any other metadata or trailing payload. PDFs are kept as sent unless they carry
active content (JavaScript, launch actions, embedded files).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from bot.errors import InvalidInput
from bot.files.links import TYPES

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
PDF = "application/pdf"
EXT = {kind: ext for ext, kind in TYPES.items()}  # what is stored: the types links may name
_PDF_ACTIVE = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFile|RichMedia|XFA)\b")


class Rejected(InvalidInput):
    """A file refused with a reason a customer or an agent can read (Chinese first, then English)."""


@dataclass(frozen=True)
class Clean:
    content_type: str  # image/jpeg | image/png | application/pdf
    data: bytes
    width: int = 0
    height: int = 0

    @property
    def ext(self) -> str:
        return EXT[self.content_type]


def sniff(data: bytes) -> str | None:
    """The type the leading bytes prove, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def clean(data: bytes, max_bytes: int, max_pixels: int) -> Clean:
    if not data:
        raise Rejected("文件是空的 (empty file)")
    if len(data) > max_bytes:
        raise Rejected(f"文件太大，最大 {max_bytes // (1024 * 1024)} MB (file too large)")
    kind = sniff(data)
    if kind is None:
        raise Rejected("只能发送图片（JPG、PNG、GIF、WebP）或 PDF (only images and PDFs)")
    if kind == PDF:
        return _pdf(data)
    return _image(data, max_pixels)


def _pdf(data: bytes) -> Clean:
    if b"%%EOF" not in data[-2048:]:
        raise Rejected("PDF 文件不完整 (truncated PDF)")
    if _PDF_ACTIVE.search(data):
        raise Rejected("PDF 含有脚本或附件，不能发送 (PDF with active content)")
    return Clean(PDF, data)


def _image(data: bytes, max_pixels: int) -> Clean:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size  # from the header: nothing is decoded yet
            if width * height > max_pixels:
                raise Rejected(f"图片尺寸太大（{width}×{height}）(image too large)")
            probe.draft("RGB", probe.size)  # JPEG: decode at the stored size, no upscaled buffers
            probe.load()
            upright = ImageOps.exif_transpose(probe)  # honour the camera's rotation before dropping EXIF
    except Rejected:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own guard, for sizes past its limit
        raise Rejected("图片尺寸太大 (image too large)") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Rejected("图片已损坏或无法识别 (unreadable image)") from exc
    alpha = upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info)
    out = io.BytesIO()
    upright.info.clear()  # comments, ICC profiles, EXIF: convert() would carry them into the copy
    if alpha:
        pixels = upright.convert("RGBA")
        pixels.save(out, "PNG", optimize=True)
        kind = "image/png"
    else:
        pixels = upright.convert("RGB")
        pixels.save(out, "JPEG", quality=85, optimize=True)
        kind = "image/jpeg"
    return Clean(kind, out.getvalue(), pixels.width, pixels.height)
