"""The retry policy between services: what is tried once more, and what never is."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bot.http_retry import once_more


def calls(*outcomes: object) -> tuple[list[int], object]:
    seen: list[int] = []

    async def call() -> httpx.Response:
        seen.append(1)
        outcome = outcomes[len(seen) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(int(outcome))  # type: ignore[call-overload]

    return seen, call


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_refused_connection_is_tried_again_whatever_the_call(idempotent: bool) -> None:
    seen, call = calls(httpx.ConnectError("refused"), 200)
    assert asyncio.run(once_more(call, idempotent)).status_code == 200 and len(seen) == 2


def test_a_dropped_answer_or_a_502_is_tried_again_only_when_safe() -> None:
    seen, call = calls(httpx.RemoteProtocolError("closed"), 200)
    assert asyncio.run(once_more(call)).status_code == 200 and len(seen) == 2
    seen, call = calls(502, 201)
    assert asyncio.run(once_more(call)).status_code == 201 and len(seen) == 2
    seen, call = calls(httpx.RemoteProtocolError("closed"), 200)
    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(once_more(call, idempotent=False))
    seen, call = calls(502, 200)
    assert asyncio.run(once_more(call, idempotent=False)).status_code == 502 and len(seen) == 1


def test_answers_and_client_errors_are_not_repeated_and_a_second_failure_is_final() -> None:
    for status in (200, 400, 404, 500):
        seen, call = calls(status, 200)
        assert asyncio.run(once_more(call)).status_code == status and len(seen) == 1
    seen, call = calls(httpx.ConnectError("a"), httpx.ConnectError("b"))
    with pytest.raises(httpx.ConnectError):
        asyncio.run(once_more(call))
