"""The WeChat access token shared by Rasa instances (channels.wechat.tokens): one fetch for many callers,
one forced refresh for a refused token however many instances saw it refused, and a refresher that dies
does not block the others. On the machine's real Redis, and in process."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis

from channels.wechat.tokens import LocalTokens, RedisTokens

REDIS = "redis://127.0.0.1:6379/0"


class WeChatTokens:
    """What /cgi-bin/stable_token would hand out (the fetch function the API client passes)."""

    def __init__(self, valid_for: float = 7200, delay: float = 0.05) -> None:
        self.calls: list[bool] = []
        self.valid_for, self.delay = valid_for, delay

    async def __call__(self, force: bool) -> tuple[str, float]:
        self.calls.append(force)
        await asyncio.sleep(self.delay)  # the network: callers pile up meanwhile
        return f"token-{len(self.calls)}", self.valid_for


@pytest.fixture
def app_id() -> str:
    app = f"wxtest{uuid.uuid4().hex[:8]}"
    yield app
    r = redis.Redis.from_url(REDIS)
    r.delete(f"csbot:wechat:token:{app}", f"csbot:wechat:token-lease:{app}")


def instances(app_id: str, n: int) -> list[RedisTokens]:
    return [RedisTokens(REDIS, app_id, poll_seconds=0.01) for _ in range(n)]


async def close(stores: list[RedisTokens]) -> None:
    for s in stores:
        await s.close()


def test_many_callers_on_three_instances_make_one_fetch(app_id: str) -> None:
    async def go() -> None:
        wx, stores = WeChatTokens(), instances(app_id, 3)
        got = await asyncio.gather(*(stores[i % 3].get(wx) for i in range(30)))
        assert set(got) == {"token-1"} and wx.calls == [False]
        ttl = redis.Redis.from_url(REDIS).pttl(f"csbot:wechat:token:{app_id}")
        assert 0 < ttl <= (7200 - 300) * 1000  # renewed 5 minutes before WeChat's expiry
        await close(stores)

    asyncio.run(go())


def test_a_refused_token_is_replaced_once_whoever_saw_it(app_id: str) -> None:
    async def go() -> None:
        wx, stores = WeChatTokens(), instances(app_id, 3)
        first = await stores[0].get(wx)
        got = await asyncio.gather(*(s.get(wx, refused=first) for s in stores for _ in range(5)))
        assert set(got) == {"token-2"} and wx.calls == [False, True]  # one forced refresh
        # an instance that reports the old token late gets the new one, no refresh
        assert await stores[2].get(wx, refused=first) == "token-2" and len(wx.calls) == 2
        await close(stores)

    asyncio.run(go())


def test_a_refresher_that_died_does_not_block_the_others(app_id: str) -> None:
    async def go() -> None:
        wx, (store,) = WeChatTokens(), instances(app_id, 1)
        r = redis.Redis.from_url(REDIS)
        r.set(f"csbot:wechat:token-lease:{app_id}", "a-dead-instance", px=300)  # its lease runs out
        assert await asyncio.wait_for(store.get(wx), 5) == "token-1"
        await store.close()

    asyncio.run(go())


def test_wechat_away_releases_the_lease(app_id: str) -> None:
    async def go() -> None:
        (store,) = instances(app_id, 1)

        async def down(force: bool) -> tuple[str, float]:
            raise OSError("connection refused")

        with pytest.raises(OSError):
            await store.get(down)
        assert redis.Redis.from_url(REDIS).get(f"csbot:wechat:token-lease:{app_id}") is None
        assert await asyncio.wait_for(store.get(WeChatTokens()), 2) == "token-1"  # the next try is not blocked
        await store.close()

    asyncio.run(go())


def test_in_process_tokens_renew_early_and_on_refusal() -> None:
    async def go() -> None:
        now = [1000.0]
        tokens, wx = LocalTokens(lambda: now[0]), WeChatTokens(valid_for=7200)
        got = await asyncio.gather(*(tokens.get(wx) for _ in range(10)))
        assert set(got) == {"token-1"} and wx.calls == [False]
        now[0] += 7200 - 300 - 1
        assert await tokens.get(wx) == "token-1"
        now[0] += 2  # within 5 minutes of expiry
        assert await tokens.get(wx) == "token-2" and wx.calls == [False, False]
        assert await tokens.get(wx, refused="token-2") == "token-3" and wx.calls[-1] is True
        assert await tokens.get(wx, refused="token-2") == "token-3" and len(wx.calls) == 3

    asyncio.run(go())
