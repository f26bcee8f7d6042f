"""Two workers sharing one database and a real Redis: the shopper on one, staff on the other."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.auth.guard import Role
from bot.web.keys import USERS
from core.settings import REPO_ROOT, Settings
from core.shop import load_orders
from harness.redis_server import redis_server
from tests.bot.channels.test_socketio import Shop, Shopper, app_with_socketio, texts
from tests.bot.handoff.test_handoff_socketio import staff_session
from tests.signin import PASSWORD


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture
async def workers(aiohttp_server: Any, built_var: Path, tmp_path: Path, redis_url: str) -> list[Shop]:
    settings = Settings(var_dir=built_var, database_url=f"sqlite:///{tmp_path / 'shared.sqlite3'}",
                        web_dir=REPO_ROOT / "web", redis_url=redis_url)
    shops = []
    for _ in range(2):
        app, channel = app_with_socketio(settings)
        server = await aiohttp_server(app)
        shops.append(Shop(str(server.make_url("")).rstrip("/"), app, channel))
    return shops


async def test_staff_on_one_worker_reach_a_shopper_on_another(workers: list[Shop]) -> None:
    shopper_side, staff_side = workers
    staff_side.app[USERS].add("sam", PASSWORD, Role.STAFF)
    staff = await staff_session(staff_side, "sam", create=False)
    try:
        async with Shopper(shopper_side.url) as shopper, staff.ws_connect("/api/handoffs/live") as console:
            session = await shopper.session(None)
            queued, _ = await shopper.say(session, "I want to talk to a person")
            assert "queue" in texts(queued)[0]
            created = await _next(console, "handoff_created")
            assert created["handoff"]["conversation_id"] == session, "the console on worker 2 hears of it"

            handoff_id = created["handoff"]["id"]
            assert (await staff.post(f"/api/handoffs/{handoff_id}/claim")).status == 200
            body = {"text": "Hello from worker 2"}
            sent = await staff.post(f"/api/handoffs/{handoff_id}/messages", json=body)
            assert sent.status == 201
            await shopper.arrived("bot_uttered", lambda m: m.get("text") == "Hello from worker 2")

            silent, _ = await shopper.say(session, "thanks!")
            assert silent == [], "worker 1 knows a person has the conversation"
            relayed = await _next(console, "message", lambda e: e.get("sender") == "shopper")
            assert relayed["turn"]["user_text"] == "thanks!"
    finally:
        await staff.close()


async def test_a_conversation_can_move_between_workers(workers: list[Shop], built_var: Path) -> None:
    order = next(o for o in load_orders(built_var / "shop").values() if o.status != "cancelled")
    async with Shopper(workers[0].url) as first:
        session = await first.session("moving-shopper")
        status, _ = await first.say(session, f"where is my order {order.order_id}")
        assert order.order_id in texts(status)[0]
        token = first.token(session)
    async with Shopper(workers[1].url) as second:
        assert await second.session(session, token) == session
        follow_up, _ = await second.say(session, "where is it now?")
        assert order.order_id in texts(follow_up)[0], "worker 2 reads the slots worker 1 wrote"


async def _next(ws: Any, kind: str, test: Any = lambda e: True) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(ws.receive_json(), 5)
        if event["type"] == kind and test(event):
            return dict(event)
