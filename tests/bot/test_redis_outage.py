"""Redis stopped and started again under the stores that use it: each falls back to this worker's
own memory while it is away (limits per worker, locks per worker, slots per worker), logs the
outage once per interval, and goes back to Redis by itself, writing what it kept meanwhile."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine import Engine

from bot.auth.ratelimit import LoginLimiter
from bot.engine.interfaces import Slots
from bot.engine.locks import RedisLocks
from bot.engine.memory import RedisMemory
from bot.engine.state_backup import StateBackup, conversation_state, state_key
from bot.engine.state_backup import metadata as state_tables
from bot.limits import RedisOutage, RedisWindow
from bot.rasa.slots import RedisSlots, Tracker
from core.db import make_engine
from core.errors import TooManyRequests
from tests.bot.redis_outage import StoppableRedis, stoppable_redis


@pytest.fixture
def server() -> Iterator[StoppableRedis]:
    with stoppable_redis() as redis_server:
        yield redis_server


@pytest.fixture
async def client(server: StoppableRedis) -> AsyncIterator[aioredis.Redis]:
    # As the app builds it (bot/web/resources.py), with short timeouts.
    redis = aioredis.from_url(server.url, socket_timeout=2.0, socket_connect_timeout=2.0)
    yield redis
    await redis.aclose()


def outage() -> RedisOutage:
    # Probe at once: the tests restart Redis and expect the next call to find it.
    return RedisOutage("test", probe_s=0.0)


async def test_limits_count_in_this_worker_while_redis_is_away(
    server: StoppableRedis, client: aioredis.Redis
) -> None:
    window = RedisWindow(client, "lookups", limit=2, window_s=60, outage=outage())
    await window.record("shopper")
    assert await window.retry_after("shopper") == 0
    server.stop()
    # The count begun before the outage carries on in this worker: one more, then the limit.
    await window.record("shopper")
    assert await window.retry_after("shopper") > 0
    assert window.outage.down
    await window.reset("shopper")
    assert await window.retry_after("shopper") == 0
    server.start()
    # Back to the shared count (Redis forgot it: it was restarted without persistence).
    assert await window.retry_after("shopper") == 0
    assert not window.outage.down
    await window.record("other")
    await window.record("other")
    assert await window.retry_after("other") > 0
    assert await client.zcard("shopbot:limit:lookups:other") == 2


async def test_sign_in_limits_hold_without_redis(server: StoppableRedis, client: aioredis.Redis) -> None:
    limiter = LoginLimiter(RedisWindow(client, "login-ip", 10, 60, outage=outage()),
                           RedisWindow(client, "login-account", 2, 60, outage=outage()))
    server.stop()
    await limiter.check("10.0.0.1", "alice")  # no error: the limit is this worker's
    await limiter.failed("10.0.0.1", "alice")
    await limiter.failed("10.0.0.1", "alice")
    with pytest.raises(TooManyRequests):
        await limiter.check("10.0.0.1", "alice")
    await limiter.succeeded("10.0.0.2", "alice")


async def test_slots_written_in_an_outage_reach_redis_when_it_is_back(
    server: StoppableRedis, client: aioredis.Redis
) -> None:
    first = RedisMemory(client, outage=outage())
    await first.put("c1", Slots(order_number="1001"), token=1)
    server.stop()
    # The new order number is this worker's until Redis answers again, and is what it reads.
    await first.put("c1", Slots(order_number="2002"), token=0)
    assert (await first.get("c1")).order_number == "2002"
    assert first.unsaved == 1
    server.start()
    second = RedisMemory(client, outage=outage())
    assert (await second.get("c1")).order_number is None, "Redis restarted empty"
    # The first worker writes what it kept before it reads anything, then every worker sees it.
    assert (await first.get("c1")).order_number == "2002"
    assert first.unsaved == 0
    assert (await second.get("c1")).order_number == "2002"


async def test_a_kept_back_write_never_overwrites_a_newer_one(
    server: StoppableRedis, client: aioredis.Redis
) -> None:
    first = RedisMemory(client, outage=outage())
    server.stop()
    await first.put("c2", Slots(order_number="2002"))
    server.start()
    await asyncio.sleep(0.01)
    second = RedisMemory(client, outage=outage())
    await second.put("c2", Slots(order_number="3003"), token=7)  # another worker, later
    assert (await first.get("c2")).order_number == "3003"
    assert first.unsaved == 0


async def test_project_trackers_are_kept_back_the_same_way(
    server: StoppableRedis, client: aioredis.Redis
) -> None:
    slots = RedisSlots(client, outage=outage())
    server.stop()
    await slots.put("c3", Tracker({"order": "2002"}))
    assert (await slots.get("c3")) == Tracker({"order": "2002"})
    server.start()
    other = RedisSlots(client, outage=outage())
    assert await slots.get("c3") == Tracker({"order": "2002"})
    got = await other.get("c3")
    assert got is not None and got.slots == {"order": "2002"}


def backups(tmp_path: Path, store: str) -> tuple[StateBackup, StateBackup, Engine]:
    """Two workers' backups over one SQLite file, as ``shopbot run --workers 2`` builds them."""
    engine = make_engine(f"sqlite:///{tmp_path / 'state.sqlite3'}")
    state_tables.create_all(engine)
    key = state_key(b"k" * 32)
    return StateBackup(engine, store, key, 3600), StateBackup(engine, store, key, 3600), engine


async def test_a_conversation_moving_between_workers_in_an_outage_reads_its_newest_slots(
    server: StoppableRedis, client: aioredis.Redis, tmp_path: Path
) -> None:
    one, two, engine = backups(tmp_path, "slots")
    a = RedisMemory(client, outage=outage(), backup=one)
    b = RedisMemory(client, outage=outage(), backup=two)
    await a.put("c5", Slots(order_number="1001"), token=1)  # worker a before the outage
    await b.put("c5", Slots(order_number="2002"), token=2)  # the next message on worker b
    server.stop()
    assert (await a.get("c5")).order_number == "2002", "not worker a's own older copy"
    await a.put("c5", Slots(order_number="3003"))
    assert (await b.get("c5")).order_number == "3003", "written by the other worker in the outage"
    plain = RedisMemory(client, outage=outage())
    await plain.put("c6", Slots(order_number="1001"))
    assert (await RedisMemory(client, outage=outage()).get("c6")).order_number is None, \
        "without the database, a worker only has its own memory"
    with engine.connect() as conn:
        bodies = [bytes(r.body) for r in conn.execute(conversation_state.select())]
    assert bodies and not any(b"3003" in body or b"order_number" in body for body in bodies), "encrypted"


async def test_the_first_worker_back_hands_redis_every_workers_outage_writes(
    server: StoppableRedis, client: aioredis.Redis, tmp_path: Path
) -> None:
    one, two, _ = backups(tmp_path, "slots")
    a = RedisMemory(client, outage=outage(), backup=one)
    b = RedisMemory(client, outage=outage(), backup=two)
    server.stop()
    await a.put("c9", Slots(order_number="1001"))
    await asyncio.sleep(0.01)
    await b.put("c9", Slots(order_number="2002"))  # the conversation's newer message, on worker b
    server.start()  # empty: without persistence
    # Worker a notices first: its own kept write is older than worker b's, which it restores.
    assert (await a.get("c9")).order_number == "2002"
    assert (await RedisMemory(client, outage=outage()).get("c9")).order_number == "2002", "in Redis"


async def test_a_worker_back_first_reads_what_one_still_in_the_outage_writes(
    server: StoppableRedis, client: aioredis.Redis, tmp_path: Path
) -> None:
    one, two, _ = backups(tmp_path, "slots")
    a = RedisMemory(client, outage=outage(), backup=one)
    b = RedisMemory(client, outage=RedisOutage("slow to notice", probe_s=60.0), backup=two)
    await a.put("c10", Slots(order_number="1001"), token=1)
    server.stop()
    assert (await a.get("c10")).order_number == "1001", "from the database copy"
    assert (await b.get("c10")).order_number == "1001"
    server.start()
    assert (await a.get("c10")).order_number == "1001", "worker a is back"
    await b.put("c10", Slots(order_number="2002"))  # worker b has not noticed: database only
    assert b.outage.down
    assert (await a.get("c10")).order_number == "2002", "worker b's newer write, not Redis's older one"


async def test_a_backup_keeps_the_newest_write_and_trackers_go_between_workers_too(
    server: StoppableRedis, client: aioredis.Redis, tmp_path: Path
) -> None:
    one, two, _ = backups(tmp_path, "rasa")
    await one.save("c7", '{"new": 1}', written_ms=2_000_000_000_000)
    await two.save("c7", '{"old": 1}', written_ms=1_999_999_999_999)  # a slow worker's older write
    assert await one.load("c7") == ('{"new": 1}', 2_000_000_000_000)
    assert await one.newer("c7", than=2_000_000_000_000) is None, "this worker's own copy is as new"
    a = RedisSlots(client, outage=outage(), backup=one)
    b = RedisSlots(client, outage=outage(), backup=two)
    server.stop()
    await a.put("c8", Tracker({"cuisine": "greek"}))
    got = await b.get("c8")
    assert got is not None and got.slots == {"cuisine": "greek"}


async def test_locks_keep_order_in_this_worker_and_go_back_to_redis(
    server: StoppableRedis, client: aioredis.Redis
) -> None:
    locks = RedisLocks(client, outage=outage())
    async with locks.hold("c4") as token:
        assert token > 0
    server.stop()
    order: list[int] = []

    async def turn(n: int) -> None:
        async with locks.hold("c4") as fence:
            assert fence == 0  # not fenced while Redis is away
            await asyncio.sleep(0.01)
            order.append(n)

    await asyncio.gather(*(turn(n) for n in range(5)))
    assert order == list(range(5))
    server.start()
    async with locks.hold("c4") as token:
        assert token > 0
    assert not locks.outage.down


async def test_an_outage_is_logged_once_per_interval_with_a_count(
    server: StoppableRedis, client: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    shared = RedisOutage("this worker's stores", probe_s=0.0, log_interval_s=60)
    memory = RedisMemory(client, outage=shared)
    window = RedisWindow(client, "lookups", 1000, 60, outage=shared)
    server.stop()
    with caplog.at_level(logging.WARNING, logger="bot.limits"):
        for n in range(200):
            await memory.put(f"c{n % 7}", Slots(order_number=str(n)))
            await window.record("shopper")
            await window.retry_after("shopper")
        server.start()
        await memory.get("c0")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "Redis unavailable" in lines[0]
    assert "Redis back" in lines[1] and "600 calls" in lines[1]
