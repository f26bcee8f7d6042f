"""Handoff over the REST channel and the staff API: escalation, silence, claim, reply, resolve."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from bot.engine.replies import WAITING
from bot.serving.turnlog import SINK
from tests.bot.handoff.conftest import Login

WEBHOOK = "/webhooks/rest/webhook"


async def say(client: TestClient, sender: str, text: str) -> list[dict[str, Any]]:
    resp = await client.post(WEBHOOK, json={"sender": sender, "message": text})
    assert resp.status == 200, await resp.text()
    return list(await resp.json())


async def queue(client: TestClient, headers: dict[str, str], status: str = "") -> list[dict[str, Any]]:
    resp = await client.get(f"/api/handoffs?status={status}", headers=headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["handoffs"])


async def test_asking_for_a_person_queues_the_conversation(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    await say(client, "early", "I want to talk to a human please")
    reply = await say(client, "shopper-1", "can I speak to a real person?")
    assert len(reply) == 1 and "number 2 in the queue" in reply[0]["text"]
    pending = await queue(client, staff, "pending")
    mine = next(h for h in pending if h["conversation_id"] == "shopper-1")
    assert mine["reason"] == "requested" and mine["assignee"] is None
    assert mine["waiting_s"] >= 0 and "person" in mine["last_message"]
    assert await queue(client, staff, "assigned") == []
    metrics = await (await client.get("/metrics")).text()
    assert 'shopbot_handoffs_total{reason="requested"} 2.0' in metrics
    assert "shopbot_handoff_queue_length 2.0" in metrics
    assert 'shopbot_handoffs_current{state="pending"} 2.0' in metrics


async def test_bot_is_silent_until_resolved_and_every_message_is_logged(
    client: TestClient, login: Login
) -> None:
    staff = await login("sam", Role.STAFF)
    await say(client, "shopper-2", "how long does UK delivery take?")
    await say(client, "shopper-2", "let me talk to someone from your team")
    handoff = (await queue(client, staff, "pending"))[0]

    waiting = await say(client, "shopper-2", "where is my parcel??")
    assert waiting == [{"recipient_id": "shopper-2", "text": WAITING}], "only that a person is coming"
    claimed = await client.post(f"/api/handoffs/{handoff['id']}/claim", headers=staff)
    assert claimed.status == 200 and (await claimed.json())["assignee"] == "sam"
    sent = await client.post(f"/api/handoffs/{handoff['id']}/messages", json={"text": "Hi, Sam here."},
                             headers=staff)
    assert sent.status == 201
    assert await say(client, "shopper-2", "thanks Sam") == [{"recipient_id": "shopper-2", "text": (
        "sam from our customer service team has your message.")}], \
        "nobody but Sam answers while assigned; over REST the shopper hears the message reached Sam"

    resolved = await client.post(f"/api/handoffs/{handoff['id']}/resolve", headers=staff)
    assert (await resolved.json())["status"] == "resolved"
    back = await say(client, "shopper-2", "how long does UK delivery take?")
    assert back and "working days" in back[0]["text"], "the bot answers again"

    await client.app[SINK].flush()
    transcript = await (await client.get("/api/conversations/shopper-2", headers=staff)).json()
    turns = transcript["turns"]
    assert [t["route"] for t in turns] == [
        "faq", "handoff", "human", "human", "human", "human", "human", "faq"
    ]
    assert [t["sender"] for t in turns[2:7]] == ["shopper", "staff", "staff", "shopper", "bot"]
    assert turns[3]["response"][0]["text"].startswith("sam from our customer service team")
    assert turns[4]["response"][0]["text"] == "Hi, Sam here." and turns[4]["staff"] == "sam"
    assert [m["text"] for m in turns[2]["response"]] == [WAITING], "the log shows what the shopper read"
    assert turns[0]["label"] == "uk_delivery" and turns[0]["evidence"], "bot turns keep their context"
    assert "escalated" in turns[1]["flags"] and turns[1]["handoff"]["reason"] == "requested"
    assert transcript["handoffs"][0]["status"] == "resolved"


async def test_claims_are_exclusive_and_replies_need_a_claim(client: TestClient, login: Login) -> None:
    sam, kim = await login("sam", Role.STAFF), await login("kim", Role.STAFF)
    await say(client, "shopper-3", "human please")
    handoff_id = (await queue(client, sam, "pending"))[0]["id"]
    early = await client.post(f"/api/handoffs/{handoff_id}/messages", json={"text": "hi"}, headers=sam)
    assert early.status == 409
    assert (await client.post(f"/api/handoffs/{handoff_id}/claim", headers=sam)).status == 200
    assert (await client.post(f"/api/handoffs/{handoff_id}/claim", headers=kim)).status == 409
    other = await client.post(f"/api/handoffs/{handoff_id}/messages", json={"text": "hi"}, headers=kim)
    assert other.status == 403
    assert (await client.post("/api/handoffs/nope/claim", headers=sam)).status == 404
    for bad in ({}, {"text": ""}, {"text": 5}, {"text": "x" * 5000}, {"text": "hi", "extra": 1}):
        resp = await client.post(f"/api/handoffs/{handoff_id}/messages", json=bad, headers=sam)
        assert resp.status in (400, 413), bad
    assert (await client.get("/api/handoffs?status=bogus", headers=sam)).status == 400


async def test_roles_guard_the_staff_api(client: TestClient, login: Login) -> None:
    auditor = await login("ada", Role.AUDITOR)
    admin = await login("root", Role.ADMIN)
    assert (await client.get("/api/handoffs")).status == 401
    assert (await client.get("/api/handoffs", headers=auditor)).status == 403
    assert (await client.get("/api/conversations/x", headers=auditor)).status == 403
    assert (await client.get("/api/handoffs", headers=admin)).status == 200


async def test_repeated_unhelpful_turns_escalate(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    replies = [await say(client, "shopper-4", text) for text in (
        "what is the capital of peru?", "who won the football last night?", "write me a poem about the sea",
    )]
    assert "queue" not in replies[1][-1]["text"]
    assert "queue" in replies[2][-1]["text"] and len(replies[2]) == 2, "the decline, then the notice"
    (handoff,) = await queue(client, staff, "pending")
    assert handoff["conversation_id"] == "shopper-4" and handoff["reason"] == "unanswered"


async def test_clearly_negative_messages_escalate(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    calm = await say(client, "shopper-5", "how long does UK delivery take?")
    assert "queue" not in calm[-1]["text"]
    angry = await say(client, "shopper-5", "This is terrible, my order is late and I am furious!")
    assert "sorry" in angry[-1]["text"].lower() and "queue" in angry[-1]["text"]
    (handoff,) = await queue(client, staff, "pending")
    assert handoff["reason"] == "negative_sentiment"


async def test_console_websocket_gets_live_events(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    async with client.ws_connect("/api/handoffs/live", headers=staff) as ws:
        await say(client, "shopper-6", "talk to a person")
        created = await asyncio.wait_for(ws.receive_json(), 5)
        assert created["type"] == "handoff_created"
        assert created["handoff"]["conversation_id"] == "shopper-6" and created["position"] == 1
        await say(client, "shopper-6", "hello? my email is jo@example.com")
        message = await asyncio.wait_for(ws.receive_json(), 5)
        assert (message["type"], message["sender"]) == ("message", "shopper")
        assert "jo@example.com" not in message["turn"]["user_text"], "consoles get redacted text"
    unauth = await client.get("/api/handoffs/live")
    assert unauth.status == 401


async def test_only_the_assignee_or_an_admin_resolves_a_claimed_handoff(
    client: TestClient, login: Login
) -> None:
    sam, kim = await login("sam", Role.STAFF), await login("kim", Role.STAFF)
    boss = await login("boss", Role.ADMIN)
    await say(client, "claimed-shopper", "I want to talk to a person")
    handoff = (await queue(client, sam, "pending"))[0]
    assert (await client.post(f"/api/handoffs/{handoff['id']}/claim", headers=sam)).status == 200
    refused = await client.post(f"/api/handoffs/{handoff['id']}/resolve", headers=kim)
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "forbidden"
    assert (await queue(client, sam, "assigned"))[0]["id"] == handoff["id"], "still Sam's"
    assert (await client.post(f"/api/handoffs/{handoff['id']}/resolve", headers=boss)).status == 200

    await say(client, "pending-shopper", "can I speak to a human?")
    waiting = (await queue(client, sam, "pending"))[0]
    assert (await client.post(f"/api/handoffs/{waiting['id']}/resolve", headers=kim)).status == 200, (
        "nobody owns a pending handoff yet")


async def test_the_console_websocket_refuses_other_origins(client: TestClient, login: Login) -> None:
    staff = await login("sam", Role.STAFF)
    host = f"http://{client.server.host}:{client.server.port}"
    evil = await client.get("/api/handoffs/live", headers={
        **staff, "Origin": "https://evil.example", "Connection": "Upgrade", "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert evil.status == 403
    async with client.ws_connect("/api/handoffs/live", headers={**staff, "Origin": host}) as ws:
        assert not ws.closed, "the console's own origin is welcome"
