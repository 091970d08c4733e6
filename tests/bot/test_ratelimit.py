"""Rate limiter: Rate parsing, the backend factory, and one contract suite run on every backend (the redis one on
the machine's real Redis, keys under a prefix of their own, deleted afterwards)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from bot.errors import ConfigError
from bot.ratelimit import Decision, Rate, RateLimiter, create_rate_limiter
from bot.ratelimit.memory import MemoryRateLimiter
from bot.settings import Backend

REDIS_URL = "redis://127.0.0.1:6379/0"
DOWN_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

Body = Callable[[RateLimiter], Awaitable[None]]


# --- Rate.parse -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("20/10s", Rate(20, 10)),
        ("5/s", Rate(5, 1)),
        ("100/min", Rate(100, 60)),
        ("1000/h", Rate(1000, 3600)),
        (" 3 / 2min ", Rate(3, 120)),
        ("1/0.5s", Rate(1, 0.5)),
    ],
)
def test_parse_good(text: str, rate: Rate) -> None:
    assert Rate.parse(text) == rate


@pytest.mark.parametrize(
    "text",
    ["", "20", "20/", "/s", "0/s", "5/0s", "-1/s", "1.5/s", "5/sec", "5/ms", "5/d", "5/S", "5 per s", "5/s/s", None, 5],
)
def test_parse_bad(text: Any) -> None:
    with pytest.raises(ConfigError) as err:
        Rate.parse(text, key="rate_limit.chat")
    assert (err.value.key, err.value.got) == ("rate_limit.chat", text)
    assert "20/10s" in err.value.expected


@pytest.mark.parametrize(("count", "seconds"), [(0, 1), (-1, 1), (True, 1), (1.5, 1), (1, 0), (1, -1), (1, "1")])
def test_rate_rejects_nonsense(count: Any, seconds: Any) -> None:
    with pytest.raises(ConfigError):
        Rate(count, seconds)


# --- create_rate_limiter ----------------------------------------------------------------------------------------


class AllowAll:
    """A custom backend, loaded by dotted path."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options = options

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> AllowAll:
        return cls(options)

    async def hit(self, key: str, rate: Rate) -> Decision:
        return Decision(True, rate.count, 0.0)

    async def close(self) -> None:
        pass


class NotALimiter:
    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> NotALimiter:
        return cls()


def backend(type_: str, **options: Any) -> Backend:
    return Backend(section="rate_limit", type=type_, options=options)


def test_factory_memory() -> None:
    limiter = create_rate_limiter(backend("memory", max_keys=10))
    assert isinstance(limiter, MemoryRateLimiter) and limiter.max_keys == 10
    assert isinstance(create_rate_limiter(backend("memory")), RateLimiter)


def test_factory_redis() -> None:
    from bot.ratelimit.redis_backend import RedisRateLimiter

    limiter = create_rate_limiter(backend("redis", url=REDIS_URL))
    assert isinstance(limiter, RedisRateLimiter) and limiter.key_prefix == "csbot:rl"
    assert create_rate_limiter(backend("redis", url=REDIS_URL, key_prefix="x:rl")).key_prefix == "x:rl"  # type: ignore[attr-defined]


def test_factory_dotted_path() -> None:
    limiter = create_rate_limiter(backend(f"{__name__}.AllowAll", flavour="test"))
    assert isinstance(limiter, AllowAll) and limiter.options == {"flavour": "test"}


@pytest.mark.parametrize(
    ("type_", "options"),
    [
        ("nosuch", {}),
        ("no_such_package.Limiter", {}),
        (f"{__name__}.Missing", {}),
        ("collections.OrderedDict", {}),  # no from_options
        (f"{__name__}.NotALimiter", {}),  # from_options gives something without hit()/close()
        ("memory", {"max_keys": 0}),
        ("memory", {"max_keys": "many"}),
        ("redis", {}),  # url is required
        ("redis", {"url": "http://127.0.0.1:6379"}),
        ("redis", {"url": REDIS_URL, "key_prefix": ""}),
        ("redis", {"url": REDIS_URL, "timeout": 0}),
    ],
)
def test_factory_rejects(type_: str, options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        create_rate_limiter(backend(type_, **options))
    assert err.value.key.startswith("rate_limit.")


# --- the contract, run on every backend -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Subject:
    """A backend under test: a fresh limiter and a way to let time pass for it."""

    make: Callable[[], RateLimiter]
    advance: Callable[[float], Awaitable[None]]

    def run(self, body: Body) -> None:
        # one event loop per test, the limiter made and closed inside it (redis connections belong to a loop)
        async def main() -> None:
            limiter = self.make()
            try:
                await body(limiter)
            finally:
                await limiter.close()

        asyncio.run(main())


def redis_keys(prefix: str) -> list[bytes]:
    import redis

    with redis.Redis.from_url(REDIS_URL) as client:
        return list(client.scan_iter(match=f"{prefix}:*", count=1000))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    import redis

    prefix = f"csbot:test:rl:{uuid.uuid4().hex}"
    yield prefix
    keys = redis_keys(prefix)
    if keys:
        with redis.Redis.from_url(REDIS_URL) as client:
            client.delete(*keys)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def subject(request: pytest.FixtureRequest) -> Subject:
    if request.param == "memory":
        clock = FakeClock()

        async def advance(seconds: float) -> None:
            clock.now += seconds

        return Subject(lambda: MemoryRateLimiter(clock=clock), advance)
    prefix = request.getfixturevalue("redis_prefix")
    return Subject(lambda: create_rate_limiter(backend("redis", url=REDIS_URL, key_prefix=prefix)), asyncio.sleep)


def test_burst_of_count_then_refused(subject: Subject) -> None:
    async def body(limiter: RateLimiter) -> None:
        rate = Rate(5, 10)
        assert all([(await limiter.hit("u1", rate)).allowed for _ in range(5)])
        refused = await limiter.hit("u1", rate)
        assert not refused.allowed and refused.remaining == 0
        assert 0 < refused.retry_after <= 10

    subject.run(body)


def test_remaining_counts_down(subject: Subject) -> None:
    async def body(limiter: RateLimiter) -> None:
        rate = Rate.parse("4/min")
        decisions = [await limiter.hit("u1", rate) for _ in range(5)]
        assert [d.remaining for d in decisions] == [3, 2, 1, 0, 0]
        assert [d.allowed for d in decisions] == [True] * 4 + [False]
        assert all(d.retry_after == 0.0 for d in decisions[:4])
        # refill is spread: the next hit is one interval (60 s / 4) away, not a whole minute
        assert 14 < decisions[4].retry_after <= 15

    subject.run(body)


def test_keys_are_independent(subject: Subject) -> None:
    async def body(limiter: RateLimiter) -> None:
        rate = Rate(2, 60)
        for _ in range(3):
            await limiter.hit("a", rate)
        assert not (await limiter.hit("a", rate)).allowed
        assert await limiter.hit("b", rate) == Decision(True, 1, 0.0)

    subject.run(body)


def test_allowed_again_after_the_period(subject: Subject) -> None:
    async def body(limiter: RateLimiter) -> None:
        rate = Rate(3, 0.3)
        assert [(await limiter.hit("k", rate)).allowed for _ in range(4)] == [True, True, True, False]
        await subject.advance(0.35)
        # a whole period later the bucket is full again: a full burst, then refused
        assert [(await limiter.hit("k", rate)).allowed for _ in range(4)] == [True, True, True, False]

    subject.run(body)


def test_retry_after_is_honest(subject: Subject) -> None:
    async def body(limiter: RateLimiter) -> None:
        rate = Rate(2, 0.4)
        await limiter.hit("k", rate)
        await limiter.hit("k", rate)
        refused = await limiter.hit("k", rate)
        assert not refused.allowed
        await subject.advance(refused.retry_after + 0.02)
        assert (await limiter.hit("k", rate)).allowed

    subject.run(body)


def test_concurrent_hits_allow_exactly_count(subject: Subject) -> None:
    async def body(limiter: RateLimiter) -> None:
        rate = Rate(50, 60)
        decisions = await asyncio.gather(*(limiter.hit("hot", rate) for _ in range(200)))
        allowed = [d for d in decisions if d.allowed]
        assert len(allowed) == 50
        # each allowed hit saw a different count: no two read the same state
        assert sorted(d.remaining for d in allowed) == list(range(50))

    subject.run(body)


def test_odd_keys_work_and_do_not_collide(subject: Subject) -> None:
    long_key = "x" * 10_000
    keys = [
        long_key,
        long_key[:-1] + "y",  # differs only in the last of 10k characters
        "😀" * 10_000,
        "用户 u1001",
        "with spaces",
        "*",
        "u*",
        "{u1001}",
        "{u1001}:x",
        "",
        "=u1",  # looks like a stored key
        "u1",
        "#" + hashlib.sha256(long_key.encode()).hexdigest(),  # looks like the stored form of long_key
        "\udcff",  # lone surrogate, as os.fsdecode gives for bad bytes
    ]

    async def body(limiter: RateLimiter) -> None:
        rate = Rate(1, 60)
        # if two keys shared a bucket, the later one's first hit would be refused
        assert [(await limiter.hit(k, rate)).allowed for k in keys] == [True] * len(keys)
        assert [(await limiter.hit(k, rate)).allowed for k in keys] == [False] * len(keys)

    subject.run(body)


# --- memory only ------------------------------------------------------------------------------------------------


def test_memory_size_is_capped() -> None:
    async def body() -> None:
        limiter = MemoryRateLimiter(max_keys=1000, clock=FakeClock())
        for i in range(5000):
            assert (await limiter.hit(f"user-{i}", Rate(1, 3600))).allowed
            assert len(limiter) <= 1000
        # the newest keys are the ones kept
        assert not (await limiter.hit("user-4999", Rate(1, 3600))).allowed

    asyncio.run(body())


def test_memory_forgets_idle_keys() -> None:
    async def body() -> None:
        clock = FakeClock()
        limiter = MemoryRateLimiter(clock=clock)
        for i in range(500):
            await limiter.hit(f"user-{i}", Rate(1, 10))
        assert len(limiter) == 500
        clock.now += 10  # every bucket is full again
        for _ in range(300):
            await limiter.hit("busy", Rate(1, 60))
        assert len(limiter) == 1

    asyncio.run(body())


def test_memory_is_thread_safe() -> None:
    limiter = MemoryRateLimiter()
    rate = Rate(100, 60)

    def worker() -> int:
        async def hits() -> int:
            return sum([(await limiter.hit("shared", rate)).allowed for _ in range(50)])

        return asyncio.run(hits())

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert sum(pool.map(lambda _: worker(), range(4))) == 100


# --- redis only -------------------------------------------------------------------------------------------------


@pytest.mark.redis
def test_redis_keys_are_prefixed_and_expire(redis_prefix: str) -> None:
    import redis

    async def body() -> None:
        limiter = create_rate_limiter(backend("redis", url=REDIS_URL, key_prefix=redis_prefix))
        try:
            await limiter.hit("u1", Rate(5, 10))
        finally:
            await limiter.close()

    asyncio.run(body())
    (key,) = redis_keys(redis_prefix)
    with redis.Redis.from_url(REDIS_URL) as client:
        # the key lives only until its bucket is full again: one interval (10 s / 5) after one hit
        assert 0 < client.pttl(key) <= 2000


@pytest.mark.redis
def test_redis_instances_share_counts(redis_prefix: str) -> None:
    async def body() -> None:
        a, b = (create_rate_limiter(backend("redis", url=REDIS_URL, key_prefix=redis_prefix)) for _ in range(2))
        try:
            rate = Rate(3, 60)
            assert [(await x.hit("u1", rate)).allowed for x in (a, b, a, b)] == [True, True, True, False]
        finally:
            await a.close()
            await b.close()

    asyncio.run(body())


@pytest.mark.redis
def test_redis_loads_the_script_when_missing(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.ratelimit import redis_backend

    # an unknown SHA is what a restarted or flushed Redis answers NOSCRIPT to (SCRIPT FLUSH would hit other users)
    monkeypatch.setattr(redis_backend, "_SHA", "0" * 40)

    async def body() -> None:
        limiter = create_rate_limiter(backend("redis", url=REDIS_URL, key_prefix=redis_prefix))
        try:
            assert [(await limiter.hit("u1", Rate(1, 60))).allowed for _ in range(2)] == [True, False]
        finally:
            await limiter.close()

    asyncio.run(body())


def test_redis_down_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> list[Decision]:
        limiter = create_rate_limiter(backend("redis", url=DOWN_URL))
        try:
            return [await limiter.hit("u1", Rate(1, 60)) for _ in range(5)]
        finally:
            await limiter.close()

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="bot.ratelimit.redis_backend"):
        decisions = asyncio.run(body())
    assert time.monotonic() - started < 2
    assert all(d.allowed for d in decisions)
    assert len([r for r in caplog.records if r.name == "bot.ratelimit.redis_backend"]) == 1  # not one per hit
