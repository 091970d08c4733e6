"""Files customers and agents sent (``bot.files``): no table ties a file to a conversation — a message carries a
signed link (``…/files/<tenant>/<yyyymm>/<hex>.<ext>?exp=&sig=``) or the bare key. So a subject's files are the
keys their records mention, found in the export before anything is erased, and only keys of their own tenant
(a key starts with its tenant: another shop's file is never touched)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot.errors import CsbotError
from bot.files import FileStore
from bot.files.links import tenant_of
from bot.privacy.base import Record, Store
from bot.privacy.subject import Subject

# the shape of bot.files.links.KEY_RE, found anywhere inside a text (a link, a JSON field)
_KEY = re.compile(r"(?<![A-Za-z0-9_-])([A-Za-z0-9_-]{1,64}/\d{6}/[0-9a-f]{32}\.(?:jpg|png|pdf))(?![A-Za-z0-9])")


def file_keys(records: Mapping[str, Any], tenant: str) -> set[str]:
    text = json.dumps(records, ensure_ascii=False, default=str)
    return {k for k in _KEY.findall(text) if tenant_of(k) == tenant}


class FilesStore(Store):
    name = "files"
    uses_files = True  # exported and erased from ``subject.files``, which the service fills in

    def __init__(self, files: FileStore) -> None:
        self.files = files

    def export(self, subject: Subject) -> list[Record]:
        out = []
        for key in sorted(subject.files):
            data = self.files.get(key)
            if data is not None:
                out.append({"key": key, "bytes": len(data)})
        return out

    def count(self, subject: Subject) -> int:
        return len(self.export(subject))

    def erase(self, subject: Subject) -> int:
        delete = getattr(self.files, "delete", None)
        if delete is None:
            raise CsbotError(f"the file store {type(self.files).__name__} cannot delete files")
        return sum(1 for key in sorted(subject.files) if tenant_of(key) == subject.tenant and delete(key))

    def close(self) -> None:
        self.files.close()
