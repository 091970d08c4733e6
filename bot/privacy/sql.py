"""The queries every SQL store of personal data repeats: IN-lists in chunks, the idle listing with a keyset
cursor, the "still active" check, and epoch seconds ↔ the naive UTC datetimes the tables keep."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as Db

CHUNK = 500  # ids per IN-list: far below every driver's parameter limit


def chunks(values: Collection[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    items = sorted(values)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


def plain(value: Any) -> Any:
    """A column value as JSON can carry it (datetimes as ISO text in UTC, ids as strings: JS loses 2^53+)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC).isoformat(timespec="seconds") if value.tzinfo is None else value.isoformat()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def row_dict(row: Any, columns: Sequence[str]) -> dict[str, Any]:
    return {c: plain(getattr(row, c)) for c in columns}


def idle(conn: Db | Connection, tenant_col: Any, conv_col: Any, time_col: Any, cutoff: Any, after: Any,
         limit: int, where: Any = None) -> tuple[list[tuple[str, str]], Any]:  # fmt: skip
    """(tenant, conversation) whose newest ``time_col`` is before ``cutoff``, in key order after ``after``."""
    q = select(tenant_col, conv_col).where(conv_col.is_not(None))
    if where is not None:
        q = q.where(where)
    if after is not None:
        q = q.where(or_(tenant_col > after[0], and_(tenant_col == after[0], conv_col > after[1])))
    q = q.group_by(tenant_col, conv_col).having(func.max(time_col) < cutoff).order_by(tenant_col, conv_col)
    rows = [(str(r[0]), str(r[1])) for r in conn.execute(q.limit(limit))]
    return rows, (rows[-1] if len(rows) == limit else None)


def active(conn: Db | Connection, tenant_col: Any, conv_col: Any, time_col: Any, tenant: str,
           conversations: Collection[str], cutoff: Any) -> set[str]:  # fmt: skip
    out: set[str] = set()
    for part in chunks(conversations):
        q = select(conv_col).distinct().where(tenant_col == tenant, conv_col.in_(part), time_col >= cutoff)
        out |= {str(r[0]) for r in conn.execute(q)}
    return out


def tenants(conn: Db | Connection, tenant_col: Any) -> set[str]:
    return {str(r[0]) for r in conn.execute(select(tenant_col).distinct())}
