"""``shopbot eval``, replay (and the gate) and the server route a message identically.

All three read a message through the turn engine's signals and decide with its one policy
(``bot/engine/signals.py``); here the same messages go through each on the same router and
knowledge, a named product among them, and the routes and entries must match.
"""

from __future__ import annotations

from typing import Any

from bot.engine.policy import answered_entry
from bot.server import create_app
from bot.serving.engine import routing_thresholds
from bot.serving.knowledge import KNOWLEDGE
from bot.serving.turnlog import RECORDS, SINK
from bot.training.offline import OfflineRouter
from bot.training.router_eval import policy_route, route_first_turns
from core.settings import Settings
from core.turns import Route
from retrieval.turn_encoder import turn_encoder
from retrieval.understanding import understanding_of

MESSAGES = [
    "how long does delivery take?",
    "can I return a gift?",
    "do you sell cookie jars?",
    "gifts under £5",
    "what is the regency cakestand 3 tier made of?",
    "how much is the jumbo bag red retrospot?",
    "where is my order 573415",
    "recommend something",
    "what's the weather in Paris",
    "I want to talk to a person",
]


async def test_eval_replay_and_the_server_route_each_message_the_same(
    aiohttp_client: Any, shop_settings: Settings
) -> None:
    client = await aiohttp_client(create_app(shop_settings))
    app = client.app
    served: dict[str, tuple[str, str]] = {}
    for n, text in enumerate(MESSAGES):
        resp = await client.post("/webhooks/rest/webhook", json={"sender": f"one-{n}", "message": text})
        assert resp.status == 200, await resp.text()
        served[resp.headers["X-Shopbot-Turn-Id"]] = (text, "")
    sink = app[SINK]
    await sink.flush()
    records = {r.turn_id: r for r in await sink.run_sync(lambda: list(sink.turn_log.records()))}
    server = {served[t][0]: (records[t].route, records[t].metadata["label"]) for t in served}

    thresholds, kb = routing_thresholds(app), app[KNOWLEDGE]
    encoder = turn_encoder(shop_settings.inference_backend, shop_settings.router_dir,
                           shop_settings.inference_threads)
    replayed = OfflineRouter(encoder, kb, thresholds, app[RECORDS].thresholds)
    replayed.warm_up()
    replay = {text: (r.route, r.label) for text, r in zip(MESSAGES, replayed.run(MESSAGES), strict=True)}
    understanding = understanding_of(encoder, kb)
    decisions = route_first_turns(understanding, thresholds, MESSAGES)
    evaluated = {text: (d.route, d.label) for text, d in zip(MESSAGES, decisions, strict=True)}

    assert replay == server
    assert evaluated == server
    # What `shopbot eval` scores: the entry each is answered from, the same decisions' entries.
    entries = policy_route(understanding, thresholds)(MESSAGES)
    assert entries == [answered_entry(d) for d in decisions]
    # The named product is answered about that product by all three, not from the FAQ.
    assert server["what is the regency cakestand 3 tier made of?"] == (Route.GENERATE, "product_question")
    assert {route for route, _ in server.values()} >= {Route.FAQ, Route.PRODUCTS, Route.GENERATE,
                                                       Route.ORDER_STATUS, Route.RECOMMEND, Route.DECLINE,
                                                       Route.HANDOFF}
