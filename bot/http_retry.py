"""One more try for a call between services when another instance behind the load balancer could answer it.

A killed instance shows up as a refused connection (the balancer has not noticed yet), a connection closed
before the answer, or a 502/503/504 from the balancer. A refused connection never reached a service, so any
call may be sent again; the others may have been done already, so only calls that are safe to repeat are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx

RETRY_STATUS = frozenset({502, 503, 504})
PAUSE_S = 0.3


async def once_more(call: Callable[[], Awaitable[httpx.Response]], idempotent: bool = True) -> httpx.Response:
    try:
        resp = await call()
    except httpx.ConnectError:
        pass
    except httpx.TransportError:
        if not idempotent:
            raise
    else:
        if resp.status_code not in RETRY_STATUS or not idempotent:
            return resp
    await asyncio.sleep(PAUSE_S)
    return await call()
