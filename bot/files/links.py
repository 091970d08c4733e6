"""Signed, expiring links to stored files: ``<base>/files/<key>?exp=<epoch>&sig=<hmac>``.

A message carries such a link, never the bytes. Whoever holds the link may fetch the file until it expires
(the way object stores' presigned URLs work); a key with no valid signature is never served. Pure functions,
used by the handoff service (which serves the files) and the Rasa server (which checks what a customer's
message points at).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

# tenant / yyyymm / 32 hex . ext — nothing a path could escape with
TYPES = {"jpg": "image/jpeg", "png": "image/png", "pdf": "application/pdf"}
KEY_RE = re.compile(r"^([A-Za-z0-9_-]{1,64})/(\d{6})/([0-9a-f]{32})\.(jpg|png|pdf)$")


def signature(secret: str, key: str, exp: int) -> str:
    mac = hmac.new(secret.encode(), f"{key}\n{exp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def link(base_url: str, secret: str, key: str, exp: int) -> str:
    return f"{base_url.rstrip('/')}/files/{key}?exp={exp}&sig={signature(secret, key, exp)}"


def valid(secret: str, key: str, exp: str | int, sig: str, now: float) -> bool:
    try:
        exp_i = int(exp)
    except (TypeError, ValueError):
        return False
    if not KEY_RE.match(key) or exp_i < now:
        return False
    return hmac.compare_digest(signature(secret, key, exp_i), sig or "")


def key_of(url: str, secret: str, now: float) -> str | None:
    """The key a link of ours points at, if its signature holds and it has not expired (any host: the
    public base URL may differ between the page and the service)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.path.startswith("/files/"):
        return None
    key = parts.path[len("/files/"):]
    q = parse_qs(parts.query)
    exp, sig = (q.get("exp") or [""])[0], (q.get("sig") or [""])[0]
    return key if valid(secret, key, exp, sig, now) else None


def tenant_of(key: str) -> str:
    m = KEY_RE.match(key)
    return m.group(1) if m else ""


def display_name(name: str, ext: str) -> str:
    """What the other side sees as the file's name: no path, no control characters, the real extension."""
    base = re.sub(r"[\x00-\x1f\x7f/\\]+", "", (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    stem = base.rsplit(".", 1)[0][:80] if base else ""
    return f"{stem or '文件'}.{ext}"


def attachment_of(raw: Any, tenant_id: str, secret: str, now: float) -> dict[str, str] | None:
    """A message's ``file`` (``{"url", "name"?}``) as ``{"url", "name", "content_type"}`` when the url is a valid,
    unexpired link of ours to a file of ``tenant_id``; None for anything else (a foreign URL, a forged or
    expired link, another shop's file)."""
    url = raw.get("url") if isinstance(raw, Mapping) else None
    key = key_of(url, secret, now) if isinstance(url, str) else None
    if key is None or tenant_of(key) != tenant_id:
        return None
    ext = key.rsplit(".", 1)[-1]
    name = raw.get("name") if isinstance(raw.get("name"), str) else ""  # type: ignore[union-attr]
    return {"url": url, "name": display_name(name, ext), "content_type": TYPES[ext]}  # type: ignore[dict-item]
