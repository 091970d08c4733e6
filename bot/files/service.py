"""The file service the HTTP handlers call: save (check, clean, store, sign) and open (verify, fetch)."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bot.errors import NotFound
from bot.files import FileStore, create_file_store
from bot.files import links as ln
from bot.files.inspect import clean
from bot.files.links import TYPES, display_name
from bot.settings import Settings, home_secret
from bot.tenants import check_tenant

MAX_MB = 10
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is the most a phone takes; more is a bomb or a mistake
LINK_DAYS = 7


@dataclass(frozen=True)
class StoredFile:
    key: str
    url: str
    content_type: str
    name: str
    size: int
    width: int = 0
    height: int = 0

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class FileService:
    def __init__(self, store: FileStore, secret: str, base_url: str, max_bytes: int = MAX_MB * 1024 * 1024,
                 max_pixels: int = MAX_PIXELS, link_seconds: int = LINK_DAYS * 86400,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.store, self.secret, self.base_url = store, secret, base_url.rstrip("/")
        self.max_bytes, self.max_pixels, self.link_seconds, self.clock = max_bytes, max_pixels, link_seconds, clock

    @classmethod
    def from_settings(cls, settings: Settings) -> FileService:
        b = settings.backend("files")
        return cls(create_file_store(b, settings.home), home_secret(settings, "file-links"),
                   str(b.get("public_url") or settings.services.url("handoff")),
                   int(float(b.get("max_mb") or MAX_MB) * 1024 * 1024), int(b.get("max_pixels") or MAX_PIXELS),
                   int(float(b.get("link_days") or LINK_DAYS) * 86400))  # fmt: skip

    def save(self, tenant_id: str, name: str, data: bytes) -> StoredFile:
        """Check and clean ``data`` (raises ``Rejected`` with a reason), store it, and return its link."""
        check_tenant(tenant_id)
        c = clean(data, self.max_bytes, self.max_pixels)
        month = dt.datetime.fromtimestamp(self.clock(), dt.timezone.utc).strftime("%Y%m")
        key = f"{tenant_id}/{month}/{uuid.uuid4().hex}.{c.ext}"
        self.store.put(key, c.data, c.content_type)
        return StoredFile(key, self.link(key), c.content_type, display_name(name, c.ext), len(c.data),
                          c.width, c.height)  # fmt: skip

    def link(self, key: str) -> str:
        return ln.link(self.base_url, self.secret, key, int(self.clock()) + self.link_seconds)

    def open(self, key: str, exp: str, sig: str) -> tuple[bytes, str]:
        """The bytes and type behind a signed link. Unknown, forged and expired links are all just 404."""
        if not ln.valid(self.secret, key, exp, sig, self.clock()):
            raise NotFound("no such file, or the link has expired")
        data = self.store.get(key)
        if data is None:
            raise NotFound("no such file, or the link has expired")
        return data, TYPES[key.rsplit(".", 1)[-1]]

    def key_of(self, url: str, tenant_id: str) -> str | None:
        """The key of a valid link of ours to a file of ``tenant_id`` (what a message may point at), or None."""
        key = ln.key_of(url, self.secret, self.clock())
        return key if key is not None and ln.tenant_of(key) == tenant_id else None

    def close(self) -> None:
        self.store.close()
