"""Files in messages: what the agent API and the internal routes accept as a message's ``file``."""

from __future__ import annotations

from typing import Any

from bot.errors import InvalidInput
from bot.files.links import attachment_of
from bot.files.service import FileService
from handoff import domain as d


def attachment(files: FileService | None, raw: Any, tenant_id: str) -> d.Attachment:
    """Only a valid, unexpired link to a file of this tenant that the platform stored."""
    found = attachment_of(raw, tenant_id, files.secret, files.clock()) if files is not None else None
    if found is None:
        raise InvalidInput("file.url must be a link returned by the upload (this shop's, not expired)")
    return d.Attachment(found["url"], found["name"], found["content_type"])
