"""Login back-off per username and address, and the per-address ceiling a shop's office fits under.

The limiter on its own (a hand-moved clock), the Redis store two workers share, and the real
kernel app over HTTP: one address guessing one account never locks its colleagues out.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from bot.auth.ratelimit import Backoff, LoginLimiter, RedisBackoff, backoff, backoff_wait
from bot.limits import LocalWindow
from core.errors import TooManyRequests
from harness.redis_server import redis_server
from tests.bot.auth.conftest import PASSWORDS
from tests.bot.auth.test_http import Start, creds
from tests.bot.auth.test_ratelimit import Clock, ClockedWindow


def test_waits_double_after_the_free_attempts_up_to_the_cap() -> None:
    waits = [backoff_wait(n, 5, 30, 900) for n in range(12)]
    assert waits == [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]
    assert backoff_wait(10**6, 5, 30, 900) == 900, "a long attack neither overflows nor grows the wait"


async def wait_of(limiter: LoginLimiter, ip: str, user: str) -> int:
    try:
        await limiter.check(ip, user)
    except TooManyRequests as err:
        assert err.retry_after is not None
        return err.retry_after
    return 0


async def test_one_guesser_backs_off_exponentially_and_nobody_else_does() -> None:
    clock = Clock()
    limiter = LoginLimiter(ClockedWindow(200, 900, clock), Backoff(3, 30, 900, clock=clock))
    waits = []
    for _ in range(8):
        wait = await wait_of(limiter, "10.0.0.1", "alice")
        waits.append(wait)
        clock.now += wait  # the guesser waits exactly as long as told, then guesses again
        await limiter.failed("10.0.0.1", "alice")
    assert waits == [0, 0, 0, 30, 60, 120, 240, 480]
    assert await wait_of(limiter, "10.0.0.1", "ALICE ") == 900, "capped"
    # Her colleagues behind the same office address, and alice from home, are not held up.
    assert await wait_of(limiter, "10.0.0.1", "bob") == 0
    assert await wait_of(limiter, "192.0.2.7", "alice") == 0
    # A day without a failure forgets the count.
    clock.now += 24 * 3600
    assert await wait_of(limiter, "10.0.0.1", "alice") == 0
    await limiter.failed("10.0.0.1", "alice")
    assert await wait_of(limiter, "10.0.0.1", "alice") == 0, "free attempts again"


async def test_a_right_password_clears_the_back_off() -> None:
    clock = Clock()
    limiter = LoginLimiter(ClockedWindow(200, 900, clock), Backoff(2, 30, 900, clock=clock))
    for _ in range(2):
        await limiter.failed("ip", "alice")
    assert await wait_of(limiter, "ip", "alice") == 30
    clock.now += 30
    await limiter.succeeded("ip", "alice")
    await limiter.failed("ip", "alice")
    assert await wait_of(limiter, "ip", "alice") == 0


async def test_the_per_address_ceiling_holds_for_spraying_across_accounts() -> None:
    clock = Clock()
    limiter = LoginLimiter(ClockedWindow(200, 900, clock), Backoff(5, 30, 900, clock=clock))
    for i in range(199):
        await limiter.failed("10.0.0.1", f"user{i}")
    assert await wait_of(limiter, "10.0.0.1", "someone") == 0, "an office's 199 typos lock nobody out"
    await limiter.failed("10.0.0.1", "user199")
    assert await wait_of(limiter, "10.0.0.1", "someone") == 900
    assert await wait_of(limiter, "10.0.0.2", "someone") == 0


def test_bad_back_offs_are_refused() -> None:
    for free, first, cap in ((0, 30, 900), (5, 0, 900), (5, 30, 0)):
        with pytest.raises(ValueError):
            Backoff(free, first, cap)
    assert Backoff(5, 60, 30).first_wait_s == 30, "a first wait above the cap is the cap"


def test_the_factory_picks_memory_without_redis() -> None:
    assert isinstance(backoff(None, "login", 5, 30, 900), Backoff)


async def test_workers_share_the_back_off_through_redis() -> None:
    with redis_server() as url:
        clients = [aioredis.from_url(url), aioredis.from_url(url)]
        try:
            first, second = (LoginLimiter(LocalWindow(200, 900), RedisBackoff(c, "login-test", 2, 30, 900))
                             for c in clients)
            await first.failed("ip", "alice")
            await second.failed("ip", "Alice")
            for worker in (first, second):
                assert 29 <= await wait_of(worker, "ip", "alice") <= 30, "two workers count one back-off"
            await second.failed("ip", "alice")
            assert 59 <= await wait_of(first, "ip", "alice") <= 60
            await first.succeeded("ip", "alice")
            assert await wait_of(second, "ip", "alice") == 0
        finally:
            for client in clients:
                await client.aclose()


async def test_redis_away_the_worker_backs_off_in_its_own_memory() -> None:
    with redis_server() as url:
        client = aioredis.from_url(url, socket_connect_timeout=0.5)
        limiter = LoginLimiter(LocalWindow(200, 900), RedisBackoff(client, "login-test", 1, 30, 900))
        await limiter.failed("ip", "alice")
    # The server is gone: no 500, the count made before the outage still holds.
    try:
        assert 29 <= await wait_of(limiter, "ip", "alice") <= 30
        await limiter.failed("ip", "bob")
        assert 29 <= await wait_of(limiter, "ip", "bob") <= 30
    finally:
        await client.aclose()


async def test_an_office_behind_one_address_keeps_signing_in(api_client: Start) -> None:
    """20 failed sign-ins from one address (the old per-address limit) lock nobody else out."""
    client = await api_client(auth_login_ip_limit=200, auth_login_ip_window_s=900.0)
    for i in range(25):
        wrong = {"username": f"temp{i % 5}", "password": "wrong password"}
        status = (await client.post("/api/auth/login", json=wrong)).status
        assert status in (401, 429)
    for name in ("alice", "ada", "otto"):
        assert (await client.post("/api/auth/login", json=creds(name))).status == 200
    alice_wrong = {"username": "alice", "password": "not-" + PASSWORDS["alice"]}
    for _ in range(5):
        assert (await client.post("/api/auth/login", json=alice_wrong)).status == 401
    blocked = await client.post("/api/auth/login", json=creds("alice"))
    assert blocked.status == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 30, "then the back-off"
    assert (await client.post("/api/auth/login", json=creds("ada"))).status == 200
