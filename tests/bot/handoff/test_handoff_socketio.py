"""The whole handoff over socket.io: a real python-socketio shopper, staff on the HTTP API."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from bot.auth.guard import Role
from bot.engine.replies import WAITING
from bot.serving.turnlog import SINK
from core.settings import Settings
from tests.bot.channels.test_socketio import Shop, Shopper, app_with_socketio, logged, texts
from tests.signin import sign_in


@pytest.fixture
async def shop(aiohttp_server: Any, shop_settings: Settings) -> Shop:
    app, channel = app_with_socketio(shop_settings)
    server = await aiohttp_server(app)
    return Shop(str(server.make_url("")).rstrip("/"), app, channel)


async def staff_session(shop: Shop, name: str, *, create: bool = True) -> aiohttp.ClientSession:
    """Signed-in HTTP session of a staff member (the account is created unless ``create`` is off)."""
    session = aiohttp.ClientSession(base_url=shop.url)
    session.headers.update(await sign_in(session, shop.app, name, Role.STAFF, create=create))
    return session


async def test_staff_take_over_live_and_hand_back(shop: Shop) -> None:
    staff = await staff_session(shop, "sam")
    try:
        async with Shopper(shop.url) as shopper, staff.ws_connect("/api/handoffs/live") as console:
            session = await shopper.session(None)
            answered, _ = await shopper.say(session, "how long does UK delivery take?")
            assert "working days" in texts(answered)[0]

            queued, _ = await shopper.say(session, "I'd like to talk to a person")
            assert "next in the queue" in texts(queued)[0]
            created = await asyncio.wait_for(console.receive_json(), 5)
            assert created["type"] == "handoff_created" and created["handoff"]["reason"] == "requested"
            handoff_id = created["handoff"]["id"]

            waiting, ack = await shopper.say(session, "hello, anyone there?")
            assert texts(waiting) == [WAITING] and ack["count"] == 1, "only that a person is coming"
            relayed = await asyncio.wait_for(console.receive_json(), 5)
            assert relayed["sender"] == "shopper" and relayed["turn"]["user_text"] == "hello, anyone there?"

            claimed = await staff.post(f"/api/handoffs/{handoff_id}/claim")
            assert claimed.status == 200
            await shopper.arrived("bot_uttered", lambda m: "has joined" in m.get("text", ""))

            await shopper.sio.emit("user_typing", {"session_id": session, "typing": True})
            typing = await _next(console, "typing")
            assert typing["conversation_id"] == session and typing["typing"] is True
            await console.send_json({"type": "typing", "conversation_id": session, "typing": True})
            await shopper.arrived("typing", lambda d: d.get("typing") is True)

            # Pushed, not polled: the shopper's socket gets it (delay: bench/handoff_latency.py).
            resp = await staff.post(f"/api/handoffs/{handoff_id}/messages", json={"text": "Hi, I'm Sam."})
            assert resp.status == 201
            staff_msg = await shopper.arrived("bot_uttered", lambda m: m.get("text") == "Hi, I'm Sam.")
            assert staff_msg["metadata"]["sender"] == "staff"

            still_silent, _ = await shopper.say(session, "where is my order 573415?")
            assert still_silent == [], "the bot does not answer while Sam is in the chat"

            resolved = await staff.post(f"/api/handoffs/{handoff_id}/resolve")
            assert (await resolved.json())["status"] == "resolved"
            await shopper.arrived("bot_uttered", lambda m: "back with the shop" in m.get("text", ""))
            back, ack = await shopper.say(session, "how long does UK delivery take?")
            assert "working days" in texts(back)[0]
            assert (await logged(shop, ack["turn_id"])).route == "faq"

        sink = shop.app[SINK]
        await sink.flush()
        records = await sink.run_sync(lambda: list(sink.turn_log.records(session)))
        human = [r for r in records if r.route == "human"]
        assert [r.metadata["sender"] for r in human] == ["shopper", "staff", "staff", "shopper", "bot"]
    finally:
        await staff.close()


async def test_history_after_reconnect_includes_staff_messages(shop: Shop) -> None:
    staff = await staff_session(shop, "kim")
    try:
        async with Shopper(shop.url) as shopper:
            session = await shopper.session(None)
            token = shopper.token(session)  # kept by the widget, sent back when it returns
            await shopper.say(session, "can I speak to a human?")
        listing = await (await staff.get("/api/handoffs?status=pending")).json()
        handoff_id = listing["handoffs"][0]["id"]
        assert (await staff.post(f"/api/handoffs/{handoff_id}/claim")).status == 200
        sent = await staff.post(f"/api/handoffs/{handoff_id}/messages", json={"text": "Sorry for the wait!"})
        assert sent.status == 201

        async with Shopper(shop.url) as returning:
            assert await returning.session(session, token) == session
            await returning.sio.emit("history_request", {"session_id": session})
            history = await returning.arrived("history")
        staff_entries = [e for e in history["entries"] if e.get("sender") == "staff"]
        said = [m.get("text") for e in staff_entries for m in e["messages"]]
        assert "Sorry for the wait!" in said, "a message sent while the shopper was away is not lost"
    finally:
        await staff.close()


async def _next(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        event = await asyncio.wait_for(ws.receive_json(), 5)
        if event["type"] == kind:
            return dict(event)
