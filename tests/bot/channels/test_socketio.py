"""The socket.io channel with a real python-socketio client against the real app on a real port."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web

from bot.auth.guard import Role
from bot.channels.keys import SOCKETIO
from bot.channels.socketio import SocketIOChannel, to_socketio
from bot.serving.turnlog import RECORDS, SINK
from core.messages import BotMessage, Button
from core.settings import Settings
from core.shop import load_orders
from core.turns import Route, TurnRecord
from harness.polling import until
from monitoring.flags import TurnFacts
from tests.apps import feature_app
from tests.identity import token
from tests.signin import sign_in

ANSWER_S = 60.0


def app_with_socketio(settings: Settings) -> tuple[web.Application, SocketIOChannel]:
    """The real app factory and the socket.io channel it attaches."""
    from bot.server import create_app

    app = create_app(settings)
    return app, feature_app(app, "/socket.io")[SOCKETIO]


@dataclass
class Shop:
    url: str
    app: web.Application
    channel: SocketIOChannel


async def start_shop(aiohttp_server: Any, settings: Settings) -> Shop:
    """The real app on a real port."""
    app, channel = app_with_socketio(settings)
    server = await aiohttp_server(app)
    return Shop(str(server.make_url("")).rstrip("/"), app, channel)


@pytest.fixture
async def shop(aiohttp_server: Any, shop_settings: Settings) -> Shop:
    return await start_shop(aiohttp_server, shop_settings)


class Shopper:
    """A socket.io client that records every event it receives, in order."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.sio.on("*", self._record)

    async def _record(self, event: str, *args: Any) -> None:
        self.events.append((event, args[0] if args else None))

    async def __aenter__(self) -> Shopper:
        await self.sio.connect(self.url, transports=["websocket"])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sio.disconnect()

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def arrived(
        self, event: str, test: Callable[[Any], bool] = lambda _: True, timeout_s: float = 5.0
    ) -> Any:
        """The first ``event`` whose data passes ``test``, once it has arrived."""
        # In a list, so that an event whose data is empty or None still counts as arrived.
        found = await until(lambda: [d for d in self.received(event) if test(d)][:1], timeout_s=timeout_s,
                            interval_s=0.02, what=f"a {event} event", show=lambda: self.events)
        return found[0]

    async def session(self, session_id: str | None, token: str | None = None, **custom: Any) -> str:
        """Rasa's handshake: ``session_request``, then the ``session_confirm`` it answers with.

        ``token`` is the conversation's token, ``custom`` the customData (a customer's claim).
        """
        before = len(self.received("session_confirm"))
        data: dict[str, Any] = {"session_id": session_id}
        if token is not None:
            data["conversation_token"] = token
        if custom:
            data["customData"] = custom
        await self.sio.emit("session_request", data)
        confirmed: list[str] = await until(lambda: self.received("session_confirm")[before:], timeout_s=5,
                                           interval_s=0.02, what="a session_confirm")
        return confirmed[-1]

    def token(self, session: str) -> str:
        """The conversation token this client was issued for ``session``."""
        issued = self.received("session_token")
        tokens = [t["conversation_token"] for t in issued if t["session_id"] == session]
        assert tokens, f"no token for {session}: {self.events}"
        return str(tokens[-1])

    async def say(
        self, session: str, text: str, **custom: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Send a message as rasa-webchat does; return its ``bot_uttered`` payloads and the ack."""
        data = {"message": text, "session_id": session, "customData": custom}
        ack = await self.sio.call("user_uttered", data, timeout=ANSWER_S)
        assert ack["ok"], ack
        await until(lambda: len(self.turn(ack["turn_id"])) >= ack["count"], timeout_s=5, interval_s=0.02,
                    what=f"every bot_uttered of {ack}", show=lambda: self.events)
        return self.turn(ack["turn_id"]), ack

    def turn(self, turn_id: str) -> list[dict[str, Any]]:
        return [m for m in self.received("bot_uttered") if m.get("metadata", {}).get("turn_id") == turn_id]


def staff_reply(app: web.Application, session: str, messages: list[BotMessage], staff: str) -> TurnRecord:
    """A staff reply's record, built as the handoff desk builds it."""
    return app[RECORDS].turn(
        conversation_id=session, channel="staff", user_text="", facts=TurnFacts(Route.HUMAN),
        messages=messages, sender="staff", metadata={"sender": "staff", "staff": staff},
    )


async def logged(shop: Shop, turn_id: str) -> TurnRecord:
    sink = shop.app[SINK]
    await sink.flush()
    records = await sink.run_sync(lambda: list(sink.turn_log.records()))
    return next(r for r in records if r.turn_id == turn_id)


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]


def test_messages_render_as_rasa_socketio_output() -> None:
    cards = [{"stock_code": "23169", "name": "Glass Cookie Jar", "price": 4.15, "category": "Kitchen"}]
    buttons = BotMessage(text="Pick one", buttons=(Button("Delivery", "/delivery"),))
    assert to_socketio(buttons, turn_id="t1") == [
        {
            "text": "Pick one",
            "quick_replies": [{"content_type": "text", "title": "Delivery", "payload": "/delivery"}],
            "metadata": {"sender": "bot", "turn_id": "t1"},
        }
    ]
    products = BotMessage(text="Here:", custom={"type": "products", "products": cards})
    text, carousel = to_socketio(products, sender="staff")
    assert text == {"text": "Here:", "metadata": {"sender": "staff"}}
    payload = carousel["attachment"]["payload"]
    assert carousel["attachment"]["type"] == "template" and payload["template_type"] == "generic"
    assert payload["elements"] == [
        {**cards[0], "title": "Glass Cookie Jar", "subtitle": "£4.15 · Kitchen", "buttons": []}
    ]
    # A product with its page and picture (a shop's feed gives them): a carousel card with both.
    linked = {**cards[0], "url": "https://shop.test/p/23169", "image": "https://shop.test/i/23169.jpg"}
    element = to_socketio(BotMessage(custom={"type": "products", "products": [linked]}))[0][
        "attachment"]["payload"]["elements"][0]
    assert element["image_url"] == "https://shop.test/i/23169.jpg"
    page = {"type": "web_url", "url": "https://shop.test/p/23169", "title": "View product"}
    assert element["buttons"] == [page]
    image = to_socketio(BotMessage(custom={"type": "image", "src": "https://x.test/a.png"}))
    assert image[0]["attachment"] == {"type": "image", "payload": {"src": "https://x.test/a.png"}}
    assert to_socketio(BotMessage(custom={"kind": "other"}))[0]["custom"] == {"kind": "other"}


async def test_vendored_client_and_channel_status(shop: Shop) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(shop.url + "/vendor/socket.io.min.js") as resp:
            assert resp.status == 200
            assert (await resp.text()).startswith("/*!\n * Socket.IO v4")
        async with http.get(shop.url + "/webhooks/socketio/") as resp:
            assert await resp.json() == {"status": "ok"}


async def test_the_polling_handshake_names_its_session_for_a_balancer(shop: Shop) -> None:
    # deploy/haproxy/haproxy.cfg learns "sid -> worker" from this cookie (cross-site pages send
    # no cookies back, so stickiness is keyed on the ?sid= every later poll carries).
    url = shop.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        opened = json.loads((await resp.text())[1:])  # "0{...}": Engine.IO's open packet
        cookie = resp.headers["Set-Cookie"]
    assert cookie.startswith(f"io={opened['sid']};")
    assert "HttpOnly" in cookie and "path=/socket.io/" in cookie


async def test_long_polling_upgrades_to_websocket(shop: Shop) -> None:
    # socket.io-client's default (and rasa-webchat's): open on long-polling, then upgrade.
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(shop.url, transports=["polling", "websocket"])
    try:
        await until(lambda: client.transport() == "websocket", timeout_s=5, what="the upgrade to WebSocket")
        ack = await client.call("session_request", {"session_id": "upgraded"}, timeout=5)
        assert ack == "upgraded"
    finally:
        await client.disconnect()


async def test_session_request_confirms_a_new_or_the_given_session(shop: Shop) -> None:
    async with Shopper(shop.url) as shopper:
        fresh = await shopper.session(None)
        assert len(fresh) == 32 and int(fresh, 16) >= 0  # a uuid4 hex, as Rasa makes it
        assert await shopper.session("web-abc123") == "web-abc123"
        assert shop.channel.connected("web-abc123") and not shop.channel.connected(fresh)


async def test_turns_come_back_in_rasa_shapes(shop: Shop) -> None:
    async with Shopper(shop.url) as shopper:
        session = await shopper.session("shapes")

        faq, ack = await shopper.say(session, "how long does delivery take?")
        assert [set(m) for m in faq] == [{"text", "metadata"}]
        assert faq[0]["metadata"] == {"sender": "bot", "turn_id": ack["turn_id"]}
        assert "working days" in faq[0]["text"]
        record = await logged(shop, ack["turn_id"])
        assert record.channel == "socketio" and record.conversation_id == session
        assert texts(faq) == [r["text"] for r in record.response]

        products, ack = await shopper.say(session, "do you sell cookie jars?")
        attachment = next(m["attachment"] for m in products if "attachment" in m)
        assert attachment["type"] == "template"
        elements = attachment["payload"]["elements"]
        logged_cards = (await logged(shop, ack["turn_id"])).response[0]["custom"]["products"]
        assert [e["stock_code"] for e in elements] == [c["stock_code"] for c in logged_cards]
        assert all(e["title"] and e["subtitle"].startswith("£") and e["buttons"] == [] for e in elements)
        assert any("cookie jar" in e["title"].lower() for e in elements)

        declined, _ = await shopper.say(session, "what's the weather in Paris")
        replies = declined[0]["quick_replies"]
        assert replies and all(set(r) == {"content_type", "title", "payload"} for r in replies)
        assert {"content_type": "text", "title": "Talk to a person", "payload": "/handoff"} in replies


async def test_custom_data_is_the_turn_metadata(shop: Shop) -> None:
    async with Shopper(shop.url) as anon, Shopper(shop.url) as known:
        anon_cards, anon_ack = await anon.say(await anon.session("anon"), "recommend something")
        known_cards, known_ack = await known.say(
            await known.session("known"), "recommend something", customer_id="17841",
            customer_token=token("17841"), language="en",
        )
    seen = [await logged(shop, ack["turn_id"]) for ack in (anon_ack, known_ack)]
    metadata = [t.metadata.get("channel_metadata", {}) for t in seen]
    # The verified identity is noted, never its token; the rest is the turn's metadata as sent.
    assert metadata == [{}, {"language": "en"}]
    assert [t.metadata.get("customer") for t in seen] == [None, "verified"]
    assert [t.channel for t in seen] == ["socketio", "socketio"]

    def codes(messages: list[dict[str, Any]]) -> list[str]:
        carousels = [m["attachment"]["payload"] for m in messages if "attachment" in m]
        return [e["stock_code"] for c in carousels for e in c["elements"]]

    assert codes(anon_cards) and codes(known_cards)
    assert codes(anon_cards) != codes(known_cards), "the customer's id reached the recommender"


async def test_a_new_connection_with_the_same_session_keeps_the_conversation(
    shop: Shop, shop_settings: Settings
) -> None:
    order = next(o for o in load_orders(shop_settings.shop_dir).values() if o.status != "cancelled")
    async with Shopper(shop.url) as first:
        session = await first.session("reconnect-me")
        status, _ = await first.say(session, f"where is my order {order.order_id}")
        assert order.order_id in status[0]["text"]

    async with Shopper(shop.url) as again:
        assert await again.session(session, first.token(session)) == session
        follow_up, _ = await again.say(session, "where is it now?")
        assert order.order_id in follow_up[0]["text"], "slot memory survives the reconnect"

        history = await again.sio.call("history_request", {"session_id": session})
        assert history == await again.arrived("history")
        entries = history["entries"]
        assert [e["kind"] for e in entries] == ["user", "bot", "user", "bot"]
        assert entries[0]["text"] == f"where is my order {order.order_id}"
        assert entries[2]["text"] == "where is it now?"
        assert texts(entries[1]["messages"]) == texts(status)
        assert texts(entries[3]["messages"]) == texts(follow_up)
        assert all(e["sender"] == "bot" for e in entries if e["kind"] == "bot")


async def test_rasa_webchat_init_without_a_message_is_ignored_quietly(shop: Shop) -> None:
    async with Shopper(shop.url) as shopper:
        session = await shopper.session("webchat-init")
        # What rasa-webchat emits on connect when the page sets no initPayload.
        init = {"session_id": session, "customData": {"language": "en"}}
        ack = await shopper.sio.call("user_uttered", init)
        assert ack == {"ok": True, "turn_id": None, "count": 0}
        # Events on one socket arrive in order: anything the init caused comes before this answer.
        answer, _ = await shopper.say(session, "do you sell candles?")
        assert texts(answer)
        assert shopper.received("error") == [] and shopper.received("bot_uttered") == answer


async def test_bad_input_gets_an_error_event_and_the_server_keeps_serving(shop: Shop) -> None:
    async with Shopper(shop.url) as shopper:
        rejected = await shopper.sio.call("history_request", {})
        assert rejected["ok"] is False and "session_request" in rejected["error"]["message"]
        no_session = await shopper.sio.call("user_uttered", {"message": "hello"})
        assert no_session["error"]["code"] == "bad_request"

        session = await shopper.session("bad-input")
        cases: list[tuple[Any, str]] = [
            ("just a string", "bad_request"),
            ({"message": 5, "session_id": session}, "bad_request"),
            ({"message": ["hi"], "session_id": session}, "bad_request"),
            ({"message": "   ", "session_id": session}, "bad_request"),
            ({"message": "x" * 3000, "session_id": session}, "payload_too_large"),
            ({"message": "hi", "session_id": session, "customData": "en"}, "bad_request"),
            ({"message": "hi", "session_id": session, "customData": {"x": "y" * 5000}}, "bad_request"),
            ({"message": "hi", "session_id": "../../etc/passwd"}, "bad_request"),
            ({"message": "hi", "session_id": 42}, "bad_request"),
        ]
        for data, code in cases:
            ack = await shopper.sio.call("user_uttered", data)
            assert ack == {"ok": False, "error": ack["error"]} and ack["error"]["code"] == code, data
            assert ack["error"]["message"]
            await shopper.arrived("error", lambda e, err=ack["error"]: e == err)
        await shopper.sio.emit("user_uttered")  # no data at all
        await shopper.sio.emit("user_typing", {"typing": "yes"})  # ignored, not an error

        answer, _ = await shopper.say(session, "do you sell candles?")
        assert texts(answer), "the same socket still gets answers"


async def test_send_pushes_staff_messages_and_typing_to_that_session_only(shop: Shop) -> None:
    async with Shopper(shop.url) as tab1, Shopper(shop.url) as tab2, Shopper(shop.url) as other:
        session = await tab1.session("staff-push")
        assert await tab2.session(session) == session
        await other.session("someone-else")

        await shop.channel.typing(session, True)
        assert await tab1.arrived("typing", timeout_s=1) == {"typing": True}
        start = time.monotonic()
        await shop.channel.send(session, [BotMessage(text="Hi, I'm Sam from the shop.")], sender="staff")
        for tab in (tab1, tab2):
            pushed = await tab.arrived("bot_uttered", timeout_s=1)
            assert pushed == {"text": "Hi, I'm Sam from the shop.", "metadata": {"sender": "staff"}}
        assert time.monotonic() - start < 1.0
        # A message of its own reaches the other session after anything sent there before it.
        parcel = BotMessage(text="Your parcel is on its way.")
        await shop.channel.send("someone-else", [parcel], sender="staff")
        await other.arrived("bot_uttered")
        assert other.received("typing") == []
        assert [m["text"] for m in other.received("bot_uttered")] == [parcel.text]


async def test_messages_sent_while_away_come_back_with_the_history(shop: Shop) -> None:
    async with Shopper(shop.url) as shopper:
        session = await shopper.session("away")
        await shopper.say(session, "do you do gift wrapping?")
        token = shopper.token(session)
    reply = BotMessage(text="Yes, we can wrap it for you.", buttons=(Button("Thanks", "thanks"),))
    await shop.app[SINK].submit(staff_reply(shop.app, session, [reply], staff="sam"))
    await shop.channel.send(session, [reply], sender="staff")  # nobody is connected to see it

    async with Shopper(shop.url) as back:
        assert await back.session(session, token) == session
        await back.sio.emit("history_request", {"session_id": session})
        entries = (await back.arrived("history"))["entries"]
    senders = [(e["kind"], e.get("sender")) for e in entries]
    assert senders == [("user", None), ("bot", "bot"), ("bot", "staff")]
    assert entries[-1]["turn_id"] == ""  # staff messages are not rated
    assert entries[-1]["messages"] == [
        {"text": "Yes, we can wrap it for you.", "quick_replies": [
            {"content_type": "text", "title": "Thanks", "payload": "thanks"}]}
    ]


async def test_shopper_typing_reaches_the_staff_consoles(shop: Shop) -> None:
    calls: list[tuple[str, bool]] = []
    staff = aiohttp.ClientSession(base_url=shop.url)
    staff.headers.update(await sign_in(staff, shop.app, "sam", Role.STAFF))

    async def typing_events(console: aiohttp.ClientWebSocketResponse, count: int) -> None:
        while len(calls) < count:
            event = await asyncio.wait_for(console.receive_json(), 2)
            if event.get("type") == "typing":
                calls.append((event["conversation_id"], event["typing"]))

    try:
        async with staff.ws_connect("/api/handoffs/live") as console:
            async with Shopper(shop.url) as shopper:
                session = await shopper.session("typist")
                await shopper.sio.emit("user_typing", {"session_id": session, "typing": True})
                await shopper.sio.emit("user_typing", {"session_id": session, "typing": False})
                await shopper.sio.emit("user_typing", {"session_id": session, "typing": True})
                await typing_events(console, 3)
            await typing_events(console, 4)
    finally:
        await staff.close()
    # Leaving mid-word stops the indicator on the staff side too.
    assert calls == [(session, True), (session, False), (session, True), (session, False)]


async def test_shopper_sockets_are_closed_on_shutdown(aiohttp_server: Any, shop_settings: Settings) -> None:
    app, channel = app_with_socketio(shop_settings)
    server = await aiohttp_server(app)
    shopper = Shopper(str(server.make_url("")).rstrip("/"))
    await shopper.__aenter__()
    await shopper.session("shutdown")
    start = time.monotonic()
    await server.close()
    # Open sockets would otherwise hold the shutdown until engine.io's ping timeout (45 s).
    assert time.monotonic() - start < 3
    await until(lambda: not shopper.sio.connected, timeout_s=5, what="the shopper's socket to close")
    assert not channel.connected("shutdown")


async def test_a_long_polling_shoppers_close_answers_its_pending_poll_at_once(
    aiohttp_server: Any, shop_settings: Settings
) -> None:
    # python-engineio's server answered a closed client's pending poll only at its ping timeout
    # (up to 45 s): that long a connection held for nobody, and a server stopping waited on it.
    app, channel = app_with_socketio(shop_settings)
    server = await aiohttp_server(app)
    client = socketio.AsyncClient(reconnection=False)
    await client.connect(str(server.make_url("")).rstrip("/"), transports=["polling"])
    assert await client.call("session_request", {"session_id": "polled"}, timeout=5) == "polled"
    start = time.monotonic()
    await client.disconnect()  # returns once its pending poll is answered
    assert time.monotonic() - start < 5
    await until(lambda: not channel.sio.eio.sockets, timeout_s=5, what="the server to forget the session")
    start = time.monotonic()
    await server.close()
    assert time.monotonic() - start < 3
