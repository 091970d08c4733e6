"""Files customers and agents send: checked, cleaned, stored, and served by signed expiring links.

``files.type`` picks the store (``local`` under ``CSBOT_HOME/files`` by default, ``s3`` for any S3-compatible
object storage, or a dotted class path); ``bot.files.service.FileService`` is what the HTTP handlers call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bot.settings import Backend

SECTION = "files"


class FileStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> bool:
        """Remove the file (a customer's erasure request); False if there was none."""
        ...

    def close(self) -> None: ...


def create_file_store(backend: Backend, home: Path) -> FileStore:
    if backend.type == "local":
        from bot.files.local import LocalFileStore

        return LocalFileStore(Path(backend.get("path") or home / "files"))
    if backend.type == "s3":
        from bot.files.s3 import S3FileStore

        return S3FileStore.from_options(backend)
    from bot.plugins import load_class

    return load_class(backend.type, SECTION).from_options(backend)  # type: ignore[no-any-return]
