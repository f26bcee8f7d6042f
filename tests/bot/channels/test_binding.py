"""Conversations are bound to whoever started them: a sender id alone reads nothing, over socket.io
(history, live messages, turns) or REST. Real app on a real port, real socket.io clients."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot.channels.binding import TOKEN_HEADER, ConversationBinding, Grant
from core.messages import BotMessage
from core.settings import Settings
from core.shop import load_orders
from tests.bot.channels.test_socketio import Shop, Shopper, start_shop, texts
from tests.identity import token as customer_token

URL = "/webhooks/rest/webhook"


@pytest.fixture
async def shop(aiohttp_server: Any, shop_settings: Settings) -> Shop:
    return await start_shop(aiohttp_server, shop_settings)


def an_order(settings: Settings) -> str:
    return next(o for o in load_orders(settings.shop_dir).values() if o.status != "cancelled").order_id


def test_tokens_are_per_conversation_and_per_key() -> None:
    binding = ConversationBinding(b"k" * 32)
    mine = binding.token("alice@example.com")
    assert binding.holds("alice@example.com", mine)
    assert not binding.holds("bob@example.com", mine)
    assert not ConversationBinding(b"j" * 32).holds("alice@example.com", mine)
    assert not any(binding.holds("alice@example.com", t) for t in (None, "", 5, mine[:-1], mine + "x"))
    assert binding.grant([], None) is Grant.NEW


async def test_another_shoppers_id_gets_nothing_of_theirs(shop: Shop, shop_settings: Settings) -> None:
    order = an_order(shop_settings)
    async with Shopper(shop.url) as owner, Shopper(shop.url) as intruder:
        victim = await owner.session("alice@example.com")
        status, _ = await owner.say(victim, f"where is my order {order}")
        assert order in status[0]["text"]

        # The intruder names the conversation: it is confirmed a conversation of its own.
        given = await intruder.session(victim)
        assert given != victim and len(given) == 32
        assert not any(t["session_id"] == victim for t in intruder.received("session_token"))
        history = await intruder.sio.call("history_request", {"session_id": victim})
        assert history == {"session_id": given, "entries": []}

        # Nor can it speak in it, or hear what is said there from now on.
        ack = await intruder.sio.call("user_uttered", {"message": "where is it now?", "session_id": victim})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden"
        await owner.say(victim, "where is it now?")
        stored = shop.channel.ids.internal(victim)  # an e-mail address is kept as a pseudonym
        await shop.channel.send(stored, [BotMessage(text="A staff reply for Alice")], sender="staff")
        await owner.arrived("bot_uttered", lambda m: m.get("text") == "A staff reply for Alice")
        await asyncio.sleep(0.2)
        assert intruder.received("bot_uttered") == []
        assert order not in str(intruder.events)


async def test_the_owner_with_the_token_gets_the_history_back(shop: Shop) -> None:
    async with Shopper(shop.url) as first:
        session = await first.session(None)
        token = first.token(session)
        said, _ = await first.say(session, "how long does delivery take?")
    async with Shopper(shop.url) as again:
        assert await again.session(session, token) == session
        entries = (await again.sio.call("history_request", {"session_id": session}))["entries"]
        assert [e["kind"] for e in entries] == ["user", "bot"]
        assert texts(entries[1]["messages"]) == texts(said)
    # A wrong token is no token.
    async with Shopper(shop.url) as forger:
        assert await forger.session(session, token[:-1] + ("A" if token[-1] != "A" else "B")) != session


async def test_a_verified_customer_gets_their_conversation_on_another_device(shop: Shop) -> None:
    claim = {"customer_id": "17841", "customer_token": customer_token("17841")}
    async with Shopper(shop.url) as laptop:
        session = await laptop.session("customer-17841")
        await laptop.say(session, "do you do gift wrapping?", **claim)
    async with Shopper(shop.url) as phone, Shopper(shop.url) as other:
        assert await phone.session(session, **claim) == session
        assert phone.token(session) == laptop.token(session)
        entries = (await phone.sio.call("history_request", {}))["entries"]
        assert entries[0]["text"] == "do you do gift wrapping?"
        # Another verified customer is someone else.
        someone = {"customer_id": "12347", "customer_token": customer_token("12347")}
        assert await other.session(session, **someone) != session
        # And a claim that the shop did not sign proves nothing.
        forged = {"customer_id": "17841", "customer_token": "0" * 64}
        assert await other.session(session, **forged) != session


async def test_rest_keeps_rasas_sender_key_by_default_and_issues_the_token(client: TestClient) -> None:
    # Rasa's REST protocol has no room for a secret: a plain client's second message must work.
    first = await client.post(URL, json={"sender": "plain-rasa-client", "message": "do you sell candles?"})
    assert first.status == 200
    token = first.headers[TOKEN_HEADER]
    again = await client.post(URL, json={"sender": "plain-rasa-client", "message": "how much is the first?"})
    assert again.status == 200 and again.headers[TOKEN_HEADER] == token


async def test_rest_needs_the_token_for_a_conversation_that_has_begun_when_required(
    aiohttp_client: Any, shop_settings: Settings
) -> None:
    from bot.server import create_app

    strict = shop_settings.model_copy(update={"rest_require_conversation_token": True})
    client = await aiohttp_client(create_app(strict))
    order = an_order(shop_settings)
    asked = {"sender": "bob@example.com", "message": f"where is my order {order}"}
    first = await client.post(URL, json=asked)
    assert first.status == 200
    token = first.headers[TOKEN_HEADER]

    stolen = await client.post(URL, json={"sender": "bob@example.com", "message": "where is it now?"})
    assert stolen.status == 403
    body = await stolen.text()
    assert order not in body and TOKEN_HEADER in body and TOKEN_HEADER not in stolen.headers

    again = await client.post(URL, json={"sender": "bob@example.com", "message": "where is it now?"},
                              headers={TOKEN_HEADER: token})
    assert again.status == 200 and again.headers[TOKEN_HEADER] == token
    assert order in (await again.json())[0]["text"], "the holder keeps the conversation's context"


async def test_a_rest_conversations_token_opens_it_on_socketio(shop: Shop) -> None:
    first = {"sender": "both-channels", "message": "do you sell candles?"}
    async with aiohttp.ClientSession(shop.url) as http, http.post(URL, json=first) as resp:
        assert resp.status == 200
        token = resp.headers[TOKEN_HEADER]
    async with Shopper(shop.url) as stranger, Shopper(shop.url) as holder:
        assert await stranger.session("both-channels") != "both-channels"
        assert await holder.session("both-channels", token) == "both-channels"
        entries = (await holder.sio.call("history_request", {}))["entries"]
        assert entries[0]["text"] == "do you sell candles?"


async def test_reserved_event_names_are_refused(shop: Shop) -> None:
    async with Shopper(shop.url) as shopper:
        session = await shopper.session("reserved")
        for name in ("connect", "disconnect", "connect_error", "disconnecting"):
            ack: Any = await shopper.sio.call(name, {"session_id": session}, timeout=5)
            assert ack["ok"] is False and "reserved" in ack["error"]["message"], name
        # The connect and disconnect handlers did not run again: the socket still holds its session.
        assert shop.channel.connected(session)
        answer, _ = await shopper.say(session, "do you sell candles?")
        assert texts(answer)
