"""What the kf channel remembers between callbacks: the sync cursor per kf account, and the kf account each
customer last wrote to (where an agent's line must go out from)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

ROUTE_SECONDS = 48 * 3600  # kf/send_msg works within 48 h of the customer's message


class KfState:
    """Cursors per kf account and the kf account each customer last wrote to: in process with the cursors in a
    file of the home, or in Redis when Rasa instances share their lock store there."""

    def __init__(self, home: Path, redis_url: str | None = None) -> None:
        self._file = home / "run" / "wecom-kf-cursors.json"
        self._routes: dict[str, tuple[float, str]] = {}
        self._redis: Any = None
        if redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(redis_url, decode_responses=True)

    async def cursor(self, open_kfid: str) -> str:
        if self._redis is not None:
            return str(await self._redis.get(f"csbot:kf:cursor:{open_kfid}") or "")
        try:
            return str(json.loads(self._file.read_text()).get(open_kfid) or "")
        except (OSError, ValueError):
            return ""

    async def set_cursor(self, open_kfid: str, cursor: str) -> None:
        if self._redis is not None:
            await self._redis.set(f"csbot:kf:cursor:{open_kfid}", cursor)
            return
        try:
            cursors = json.loads(self._file.read_text())
        except (OSError, ValueError):
            cursors = {}
        cursors[open_kfid] = cursor
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_suffix(".tmp")
        tmp.write_text(json.dumps(cursors))
        tmp.replace(self._file)  # whole or not at all

    async def set_route(self, external_userid: str, open_kfid: str) -> None:
        if self._redis is not None:
            await self._redis.set(f"csbot:kf:route:{external_userid}", open_kfid, ex=ROUTE_SECONDS)
        else:
            self._routes[external_userid] = (time.time(), open_kfid)

    async def route(self, external_userid: str) -> str | None:
        if self._redis is not None:
            return await self._redis.get(f"csbot:kf:route:{external_userid}")
        held = self._routes.get(external_userid)
        return held[1] if held and time.time() - held[0] < ROUTE_SECONDS else None
