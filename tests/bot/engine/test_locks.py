"""Conversation locks and dialogue state in a real Redis: leases outlive no crash, fencing stops a
stale write, the state outlives its worker and expires when idle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from bot.engine.interfaces import Search, Slots
from bot.engine.locks import InProcessLocks, RedisLocks
from bot.engine.memory import RedisMemory
from harness.redis_server import redis_server


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    with redis_server() as url:
        client = aioredis.from_url(url)
        yield client
        await client.aclose()


async def _order_of_service(locks: object, n: int) -> tuple[list[int], list[int]]:
    served: list[int] = []
    tokens: list[int] = []

    async def turn(i: int) -> None:
        await asyncio.sleep(0.02 * i)
        async with locks.hold("c1") as token:  # type: ignore[attr-defined]
            served.append(i)
            tokens.append(token)
            await asyncio.sleep(0.03)

    await asyncio.gather(*(turn(i) for i in range(n)))
    return served, tokens


async def test_turns_are_served_first_come_first_served(redis: aioredis.Redis) -> None:
    for locks in (InProcessLocks(), RedisLocks(redis)):
        served, tokens = await _order_of_service(locks, 10)
        assert served == list(range(10)), type(locks).__name__
        assert tokens == sorted(tokens) and len(set(tokens)) == 10, "fencing tokens rise with every grant"


async def test_a_crashed_holder_loses_the_conversation_when_its_lease_runs_out(redis: aioredis.Redis) -> None:
    crashed = RedisLocks(redis, lease_ms=400, handover_ms=400)
    keys = crashed._keys("c2")
    # A worker draws the lock and dies holding it: no release, no lease renewal.
    ticket = int(await crashed._take(keys=keys, args=[60, 400]))
    assert int(await crashed._try(keys=keys, args=[ticket, 400, 60])) == 1
    survivor = RedisLocks(redis, lease_ms=400, handover_ms=400)
    start = time.monotonic()
    async with survivor.hold("c2") as token:
        waited = time.monotonic() - start
    assert 0.3 < waited < 3.0, f"waited {waited:.2f} s for the lease to lapse"
    assert token > ticket


async def test_a_long_turn_keeps_its_lease(redis: aioredis.Redis) -> None:
    locks = RedisLocks(redis, lease_ms=300, handover_ms=300)
    order: list[str] = []

    async def slow() -> None:
        async with locks.hold("c3"):
            order.append("slow starts")
            await asyncio.sleep(1.0)  # three leases long, renewed meanwhile
            order.append("slow ends")

    async def next_turn() -> None:
        await asyncio.sleep(0.05)
        async with locks.hold("c3"):
            order.append("next")

    await asyncio.gather(slow(), next_turn())
    assert order == ["slow starts", "slow ends", "next"]


async def test_fencing_refuses_a_write_older_than_the_last(redis: aioredis.Redis) -> None:
    memory = RedisMemory(redis)
    await memory.put("c4", Slots(order_number="111111"), token=7)
    await memory.put("c4", Slots(order_number="222222"), token=5)  # a slow, lapsed holder
    assert (await memory.get("c4")).order_number == "111111"
    assert memory.refused == 1
    await memory.put("c4", Slots(order_number="333333"), token=8)
    assert (await memory.get("c4")).order_number == "333333"


async def test_redis_away_degrades_to_this_workers_lock_and_memory() -> None:
    client = aioredis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2)
    locks, memory = RedisLocks(client), RedisMemory(client)
    await memory.put("c5", Slots(order_number="444444"), token=3)
    async with locks.hold("c5") as token:
        assert token == 0
        assert (await memory.get("c5")).order_number == "444444", "this worker's copy stands in"
    await client.aclose()


async def test_the_dialogue_state_outlives_its_worker_and_expires_when_idle(redis: aioredis.Redis) -> None:
    state = Slots(
        turns=3, last_product="22423", shown_products=("22423", "21843", "22697"), topic="products",
        order_number="573415", faq_topic="returns", aspect="price",
        search=Search("cake stands", colour="pink", material="ceramic", size="small", min_price=2.0,
                      max_price=9.5, without=("vintage",), must=("tier",), prefer=("Party",),
                      seen=("22423", "21843", "22697")),
    )
    await RedisMemory(redis, ttl_s=1).put("c6", state, token=1)
    # Another worker (a fresh process's memory: nothing cached) reads every part of it back.
    assert await RedisMemory(redis).get("c6") == state
    await asyncio.sleep(1.2)
    assert await RedisMemory(redis).get("c6") == Slots(), "an idle conversation starts again"
