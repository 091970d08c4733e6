"""Tenant ids: one alphabet everywhere, because they end up in SQL, Milvus and Elasticsearch filters."""

from __future__ import annotations

import re

from bot.errors import InvalidInput

TENANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_tenant(tenant_id: str) -> str:
    """Only a safe alphabet is accepted: a tenant id is never escaped, so it must not need escaping."""
    if not isinstance(tenant_id, str) or not TENANT_RE.match(tenant_id):
        raise InvalidInput(f"invalid tenant id {tenant_id!r}: expected 1-64 of [A-Za-z0-9_-]")
    return tenant_id
