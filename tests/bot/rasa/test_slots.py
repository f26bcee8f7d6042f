"""A Rasa project's slots: the mappings applied per message, and where values live between messages."""

from __future__ import annotations

from typing import Any

from bot.rasa.slots import InProcessSlots, RedisSlots, apply_mappings, initial_values
from harness.redis_server import redis_server

SPECS: dict[str, dict[str, Any]] = {
    "size": {"type": "text",
             "mappings": [{"type": "from_entity", "entity": "size", "not_intent": "chitchat"}]},
    "mood": {"type": "text",
             "mappings": [{"type": "from_intent", "intent": ["greet", "hello"], "value": "happy"}]},
    "said": {"type": "text", "mappings": [{"type": "from_text", "intent": "inform"}]},
    "step": {"type": "text", "mappings": [{"type": "from_text", "conditions": [{"active_loop": "a_form"}]}]},
    "count": {"type": "float", "initial_value": 0, "mappings": [{"type": "custom"}]},
}


def test_mappings_fill_slots_as_rasa_does() -> None:
    start = initial_values(SPECS)
    assert start == {"size": None, "mood": None, "said": None, "step": None, "count": 0}
    large = [{"entity": "size", "value": "large"}]
    assert apply_mappings(SPECS, start, "order", large, "/order")["size"] == "large"
    assert apply_mappings(SPECS, start, "chitchat", large, "/chitchat")["size"] is None, "not_intent"
    assert apply_mappings(SPECS, start, "hello", [], "hi")["mood"] == "happy"
    assert apply_mappings(SPECS, start, "order", [], "hi")["mood"] is None
    filled = apply_mappings(SPECS, start, "inform", [], "at noon")
    assert filled["said"] == "at noon" and filled["step"] is None, "form-conditioned mappings are not applied"
    assert filled["count"] == 0


async def test_values_live_per_conversation_in_process() -> None:
    store = InProcessSlots(max_conversations=2)
    assert await store.get("a") is None
    await store.put("a", {"size": "large"})
    await store.put("b", {"size": "small"})
    await store.put("c", {"size": "medium"})
    assert await store.get("a") is None, "the least recently used conversation is dropped"
    assert await store.get("c") == {"size": "medium"}


async def test_workers_share_values_through_redis() -> None:
    import redis.asyncio as aioredis

    with redis_server() as url:
        first, second = aioredis.from_url(url), aioredis.from_url(url)
        try:
            await RedisSlots(first).put("conv", {"size": "large", "count": 2})
            assert await RedisSlots(second).get("conv") == {"size": "large", "count": 2}
            assert await RedisSlots(second).get("other") is None
        finally:
            await first.aclose()
            await second.aclose()


async def test_without_redis_this_workers_copy_stands_in() -> None:
    import redis.asyncio as aioredis

    gone = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    store = RedisSlots(gone)
    try:
        await store.put("conv", {"size": "large"})
        assert await store.get("conv") == {"size": "large"}
    finally:
        await gone.aclose()
