"""One conversation, one turn at a time, in arrival order: on REST and across two workers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.serving.engine import MEMORY
from bot.serving.turnlog import SINK
from core.settings import REPO_ROOT, Settings
from core.shop import load_orders
from core.turns import Flag, Route, TurnRecord
from harness.redis_server import redis_server
from tests.identity import IDENTITY_ENV, token

URL = "/webhooks/rest/webhook"
UNHELPFUL = "what's the weather in Paris"


async def _post(
    session: Any, sender: str, text: str, **metadata: Any
) -> tuple[int, list[dict[str, Any]], str]:
    async with session.post(URL, json={"sender": sender, "message": text, "metadata": metadata}) as resp:
        return resp.status, await resp.json(), resp.headers.get("X-Shopbot-Turn-Id", "")


async def _staggered(session: Any, sender: str, texts: list[str], **metadata: Any) -> list[Any]:
    """Send every text without waiting for answers, each a moment after the one before."""

    async def one(i: int, text: str) -> Any:
        await asyncio.sleep(0.01 * i)
        return await _post(session, sender, text, **metadata)

    return await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))


async def _logged(app: Any, conversation: str) -> list[TurnRecord]:
    sink = app[SINK]
    await sink.flush()
    return await sink.run_sync(lambda: list(sink.turn_log.records(conversation)))


async def test_twenty_concurrent_messages_are_answered_in_order_with_the_slots_intact(
    client: TestClient, shop_settings: Settings
) -> None:
    order = next(o for o in load_orders(shop_settings.shop_dir).values() if o.customer_id)
    assert order.customer_id is not None
    me = {"customer_id": order.customer_id, "customer_token": token(order.customer_id)}
    status, first, _ = await _post(client, "racer", f"where is my order {order.order_id}", **me)
    assert status == 200 and order.order_id in first[0]["text"]
    texts = [f"where is it now? ({n})" for n in range(20)]
    answers = await _staggered(client, "racer", texts, **me)
    assert [s for s, _, _ in answers] == [200] * 20
    assert all(order.order_id in a[0]["text"] for _, a, _ in answers), "the order number survives every turn"
    logged = await _logged(client.app, "racer")
    assert [r.user_text for r in logged[1:]] == texts, "processed in arrival order"
    assert (await client.app[MEMORY].get("racer")).turns == 21, "no slot update lost"


async def test_escalation_comes_after_exactly_the_third_unhelpful_turn_however_fast(
    client: TestClient,
) -> None:
    answers = await _staggered(client, "impatient", [f"{UNHELPFUL}? ({n})" for n in range(6)])
    assert [s for s, _, _ in answers] == [200] * 6
    logged = await _logged(client.app, "impatient")
    escalated = [i for i, r in enumerate(logged) if Flag.ESCALATED in r.flags]
    assert escalated == [2], "one handoff, on the third unhelpful turn"
    assert [r.route for r in logged[3:]] == [Route.HUMAN] * 3, "then a person has the conversation"
    assert [len(a) for _, a, _ in answers[3:]] == [1, 1, 1], "and the bot only says a person is coming"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


async def test_across_two_workers_too(
    aiohttp_server: Any, built_var: Path, tmp_path: Path, redis_url: str
) -> None:
    from bot.server import create_app

    settings = Settings(var_dir=built_var, database_url=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
                        web_dir=REPO_ROOT / "web", redis_url=redis_url, journal_dir=tmp_path / "journal",
                        identity_secret_env=IDENTITY_ENV)
    apps = [create_app(settings) for _ in range(2)]
    servers = [await aiohttp_server(app) for app in apps]
    sessions = [aiohttp.ClientSession(base_url=str(s.make_url(""))) for s in servers]
    try:
        texts = [f"do you deliver to france? ({n})" for n in range(20)]

        async def one(i: int, text: str) -> Any:
            await asyncio.sleep(0.01 * i)
            return await _post(sessions[i % 2], "two-worker-shopper", text)

        answers = await asyncio.gather(*(one(i, t) for i, t in enumerate(texts)))
        assert [s for s, _, _ in answers] == [200] * 20
        await apps[1][SINK].flush()  # both workers write the one shared turn log
        logged = sorted(await _logged(apps[0], "two-worker-shopper"), key=lambda r: r.ts)
        assert sorted(r.user_text for r in logged) == sorted(texts)
        seqs = [r.metadata["seq"] for r in logged]
        assert seqs == sorted(seqs) and len(set(seqs)) == 20, (
            "one queue across both workers: turns ran in the order they drew their tickets")
        assert (await apps[0][MEMORY].get("two-worker-shopper")).turns == 20, "no slot update lost"

        unhelpful = [f"{UNHELPFUL}? ({n})" for n in range(6)]

        async def rude(i: int, text: str) -> Any:
            await asyncio.sleep(0.01 * i)
            return await _post(sessions[i % 2], "two-worker-impatient", text)

        await asyncio.gather(*(rude(i, t) for i, t in enumerate(unhelpful)))
        await apps[1][SINK].flush()
        turns = await _logged(apps[0], "two-worker-impatient")
        turns = sorted(turns, key=lambda r: r.ts)
        assert [i for i, r in enumerate(turns) if Flag.ESCALATED in r.flags] == [2]
        assert [r.route for r in turns[3:]] == [Route.HUMAN] * 3
    finally:
        for session in sessions:
            await session.close()
