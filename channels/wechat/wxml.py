"""WeChat's message XML: a flat ``<xml>`` of text children, in and out.

Parsing refuses what a message never holds before expat sees it: a DOCTYPE or an entity declaration (so no XXE,
billion laughs or quadratic blow-up), more than ``MAX_BYTES``, more than ``MAX_FIELDS`` children, nesting.
Every failure is a ``BadMessage``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

MAX_BYTES = 64 * 1024  # WeChat's messages are a few hundred bytes; a 2,048-character text is ~6 KB
MAX_FIELDS = 40
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


class BadMessage(ValueError):
    pass


def parse(data: bytes | str) -> dict[str, str]:
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise BadMessage("message too large")
    if _DECLARATION.search(raw):
        raise BadMessage("DTDs and entities are not accepted")
    try:
        root = ET.fromstring(raw)
    except (ET.ParseError, ValueError, UnicodeDecodeError) as exc:
        raise BadMessage(f"not XML: {exc}") from None
    if root.tag != "xml" or len(root) > MAX_FIELDS:
        raise BadMessage("not a WeChat message")
    out: dict[str, str] = {}
    for child in root:
        if len(child):  # ScanCodeInfo and friends nest; nothing this channel reads does
            continue
        out[child.tag] = (child.text or "").strip()
    return out


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build(fields: dict[str, str | int]) -> str:
    """``<xml>`` with each value as CDATA (numbers bare), in the order given."""
    parts = [f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}>{cdata(str(v))}</{k}>" for k, v in fields.items()]
    return "<xml>" + "".join(parts) + "</xml>"
