"""A Rasa project's tracker: the slot mappings applied per message, and where slot values and the
conversation's latest events live between messages."""

from __future__ import annotations

import json
from typing import Any

from bot.rasa.slots import InProcessSlots, RedisSlots, Tracker, extract_slots, initial_values
from harness.redis_server import redis_server
from retrieval.rasa_flows import ACTION, USER, History


def apply_mappings(specs: Any, values: dict[str, Any], intent: str, entities: Any, text: str
                   ) -> dict[str, Any]:
    """The slot values after this message's mappings."""
    return {**values, **extract_slots(specs, values, intent, entities, text)}


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


# A conversation after "hello" (answered by two actions) and "yes", as the responder records it.
HISTORY = History().after("greet", ["utter_greet", "utter_ask_newsletter"], 5).after(
    "affirm", ["utter_subscribed"], 5)


def test_history_keeps_the_latest_events_in_order() -> None:
    assert HISTORY.events == ((USER, "greet"), (ACTION, "utter_greet"), (ACTION, "utter_ask_newsletter"),
                              (USER, "affirm"), (ACTION, "utter_subscribed"))
    assert not HISTORY.trimmed
    assert HISTORY.sequence()[0] == ("start", ""), "the conversation's beginning is still in view"
    shorter = HISTORY.after("thanks", [], 3)
    assert shorter.events == ((USER, "affirm"), (ACTION, "utter_subscribed"), (USER, "thanks"))
    assert shorter.trimmed
    assert shorter.sequence() == shorter.events, "once trimmed, the beginning is out of view"


async def test_trackers_live_per_conversation_in_process() -> None:
    store = InProcessSlots(max_conversations=2)
    assert await store.get("a") is None
    await store.put("a", Tracker({"size": "large"}))
    await store.put("b", Tracker({"size": "small"}, HISTORY))
    await store.put("c", Tracker({"size": "medium"}))
    assert await store.get("a") is None, "the least recently used conversation is dropped"
    assert await store.get("c") == Tracker({"size": "medium"}, History())
    assert await store.get("b") == Tracker({"size": "small"}, HISTORY), "slots and events kept together"


async def test_workers_share_trackers_through_redis() -> None:
    import redis.asyncio as aioredis

    with redis_server() as url:
        first, second = aioredis.from_url(url), aioredis.from_url(url)
        try:
            await RedisSlots(first, ttl_s=600).put("conv", Tracker({"size": "large", "count": 2}, HISTORY))
            assert await RedisSlots(second).get("conv") == Tracker({"size": "large", "count": 2}, HISTORY), \
                "another worker reads the same slots and events"
            assert 0 < await second.ttl("shopbot:rasa-slots:conv") <= 600, "slots and events expire together"
            assert await RedisSlots(second).get("other") is None
            trimmed = Tracker({"size": None}, HISTORY.after("thanks", ["utter_welcome"], 3))
            await RedisSlots(first).put("conv", trimmed)
            assert await RedisSlots(second).get("conv") == trimmed, "a trimmed history stays trimmed"
        finally:
            await first.aclose()
            await second.aclose()


async def test_a_plain_slot_mapping_stored_before_events_were_kept_is_still_read() -> None:
    import redis.asyncio as aioredis

    with redis_server() as url:
        client = aioredis.from_url(url)
        try:
            # What an older Shopbot wrote: the slot values alone.
            await client.set("shopbot:rasa-slots:old", json.dumps({"size": "large", "count": 2}))
            old = await RedisSlots(client).get("old")
            assert old == Tracker({"size": "large", "count": 2}, History((), trimmed=True)), \
                "the slots are kept; the earlier events are unknown, so not the conversation's beginning"
        finally:
            await client.aclose()


async def test_without_redis_this_workers_copy_stands_in() -> None:
    import redis.asyncio as aioredis

    gone = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    store = RedisSlots(gone)
    try:
        await store.put("conv", Tracker({"size": "large"}, HISTORY))
        assert await store.get("conv") == Tracker({"size": "large"}, HISTORY)
    finally:
        await gone.aclose()
