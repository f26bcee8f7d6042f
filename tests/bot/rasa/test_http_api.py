"""Rasa's HTTP API (``bot/channels/rasa_http.py``, ``bot/rasa/http_api.py``, ``bot/rasa/api_auth.py``)
checked against the keys Rasa's own API specification (``docs/static/spec/rasa.yml``, Rasa 3)
requires: the guard and the shapes as units, then the real app, on the shop's own knowledge and
on `rasa init`'s moodbot, driven the way a script written against Rasa's API drives it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.rasa import http_api as rasa_api
from bot.rasa.api_auth import ApiAuth
from bot.rasa.payload import payload_text
from core.errors import BadRequest, Forbidden, Unauthorized
from core.settings import Settings
from core.turns import Route, RouterOutput, TurnRecord
from monitoring.transcripts import TranscriptTurn
from tests.bot.channels.test_socketio import Shopper

TOKEN_ENV = "SHOPBOT_TEST_RASA_API_TOKEN"
JWT_ENV = "SHOPBOT_TEST_RASA_API_JWT_SECRET"
TOKEN = "rasa-api-test-token"
JWT_SECRET = b"rasa-api-test-jwt-secret"

# The keys Rasa's spec and Rasa 3's answers carry.
TRACKER_KEYS = {"sender_id", "slots", "latest_message", "latest_event_time", "followup_action", "paused",
                "events", "latest_input_channel", "active_loop", "latest_action", "latest_action_name"}
PARSE_KEYS = {"text", "intent", "intent_ranking", "entities"}
ERROR_KEYS = {"version", "status", "message", "reason", "details", "help", "code"}


def rasa_jwt(username: str, role: str, *, ttl_s: float = 600.0, secret: bytes = JWT_SECRET,
             exp: bool = True) -> str:
    """A JWT as Rasa's users sign them (PyJWT, HS256), with the ``exp`` Shopbot requires."""

    def b64(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims: dict[str, Any] = {"user": {"username": username, "role": role}}
    if exp:
        claims["exp"] = int(time.time() + ttl_s)
    signing = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}"
    signature = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- the guard, as Rasa's rules


def test_the_guard_follows_rasas_rules() -> None:
    auth = ApiAuth(TOKEN.encode(), JWT_SECRET)
    assert auth.check(TOKEN, None).how == "token"
    assert auth.check(TOKEN, None, "anyone").how == "token", "the token opens every conversation"
    with pytest.raises(Unauthorized):
        auth.check(None, None)
    with pytest.raises(Unauthorized):
        auth.check("rasa-api-test-tokem", None, "c1")
    assert auth.check(None, f"Bearer {rasa_jwt('ops', 'admin')}").role == "admin"
    assert auth.check(None, f"bearer {rasa_jwt('ops', 'admin')}", "c1").role == "admin"
    own = rasa_jwt("c1", "user")
    assert auth.check(None, f"Bearer {own}", "c1").username == "c1"
    with pytest.raises(Forbidden):
        auth.check(None, f"Bearer {own}", "c2")
    with pytest.raises(Forbidden):
        auth.check(None, f"Bearer {own}"), "a user's JWT opens no path without its conversation"
    with pytest.raises(Forbidden):
        auth.check(None, f"Bearer {rasa_jwt('c1', 'guest')}", "c1")
    for refused in (rasa_jwt("ops", "admin", ttl_s=-5), rasa_jwt("ops", "admin", exp=False),
                    rasa_jwt("ops", "admin", secret=b"another secret"),
                    rasa_jwt("ops", "admin", ttl_s=10 ** 7),
                    "not.a.jwt", "é" * 10):
        with pytest.raises(Unauthorized):
            auth.check(None, f"Bearer {refused}", "c1")
    with pytest.raises(Unauthorized):
        auth.check(None, f"Token {rasa_jwt('ops', 'admin')}"), "only Bearer"


def test_the_guard_is_closed_with_nothing_configured_and_each_secret_alone_works() -> None:
    closed = ApiAuth(None, None)
    admin = f"Bearer {rasa_jwt('a', 'admin')}"
    for query, header in ((None, None), (TOKEN, None), ("", None), (None, admin)):
        with pytest.raises(Forbidden):
            closed.check(query, header, "c1")
    token_only = ApiAuth(TOKEN.encode(), None)
    assert token_only.check(TOKEN, None).how == "token"
    with pytest.raises(Unauthorized):
        token_only.check(None, f"Bearer {rasa_jwt('a', 'admin')}")
    jwt_only = ApiAuth(None, JWT_SECRET)
    with pytest.raises(Unauthorized):
        jwt_only.check(TOKEN, None)
    with pytest.raises(Unauthorized):
        jwt_only.check("", None)


# ---------------------------------------------------------------- shapes


def _turn(text: str, response: tuple[dict[str, Any], ...], ts: datetime, **metadata: Any) -> TranscriptTurn:
    return TranscriptTurn(TurnRecord("conv", f"t{ts.timestamp():.0f}", ts, "rest", text, Route.FAQ, response,
                                     metadata=metadata))


def test_tracker_from_logged_turns() -> None:
    start = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    turns = [
        _turn("hello", ({"recipient_id": "conv", "text": "Hi!"},), start, label="greeting", confidence=0.93,
              ranking=[["greeting", 0.9], ["thanks", 0.05]]),
        _turn("I want [NAME] to call", (), start + timedelta(seconds=5), label="handoff", confidence=0.7,
              ranking=[], rasa_api="messages"),
        _turn("", ({"recipient_id": "conv", "text": "Done.",
                    "buttons": [{"title": "ok", "payload": "/ok"}]},),
              start + timedelta(seconds=9), action="action_done", policy="external", action_confidence=1.0),
    ]
    state = rasa_api.tracker_state("me", turns, {"name": None}, paused=True, active_loop="contact_form")
    assert set(state) == TRACKER_KEYS
    assert state["sender_id"] == "me" and state["slots"] == {"name": None} and state["paused"] is True
    assert state["active_loop"] == {"name": "contact_form"}
    assert [(e["event"], e.get("name") or e.get("text")) for e in state["events"]] == [
        ("user", "hello"), ("bot", "Hi!"), ("action", "action_listen"),
        ("user", "I want [NAME] to call"),
        ("action", "action_done"), ("bot", "Done."),
    ], "no action_listen after a message only logged, nor after an action run from outside"
    assert state["latest_message"]["intent"] == {"name": "handoff", "confidence": 0.7}
    assert state["latest_message"]["text"] == "I want [NAME] to call", "the log's redacted text"
    assert state["events"][0]["parse_data"]["intent_ranking"][0] == {"name": "greeting", "confidence": 0.9}
    assert state["events"][5]["data"]["buttons"] == [{"title": "ok", "payload": "/ok"}]
    assert state["latest_action_name"] == "action_done" == state["latest_action"]["action_name"]
    assert state["latest_event_time"] == (start + timedelta(seconds=9)).timestamp()
    assert state["latest_input_channel"] == "rest"
    earlier = rasa_api.tracker_state("me", turns, {}, until=(start + timedelta(seconds=1)).timestamp())
    assert [e["event"] for e in earlier["events"]] == ["user", "bot", "action"]
    assert rasa_api.tracker_state("me", turns, {}, verbosity="NONE")["events"] is None
    empty = rasa_api.tracker_state("new", [], {})
    assert empty["events"] == [] and empty["latest_message"]["intent"] == {} and empty["active_loop"] == {}
    assert empty["latest_event_time"] is None and empty["latest_action_name"] is None


def test_parse_results_and_request_values() -> None:
    routed = RouterOutput("greet", "greet", 0.91, (("greet", 0.8), ("bye", 0.1)))
    answered = rasa_api.router_parse("hi", routed, [])
    assert set(answered) == PARSE_KEYS and answered["intent"] == {"name": "greet", "confidence": 0.91}
    declined = rasa_api.router_parse("??", RouterOutput(None, "greet", 0.2, (("greet", 0.4),)), [])
    assert declined["intent"] == {"name": "nlu_fallback", "confidence": 0.8}
    assert [i["name"] for i in declined["intent_ranking"]] == ["nlu_fallback", "greet"]
    payload = rasa_api.payload_parse('/inform{"city": "Berlin"}')
    assert payload is not None and payload["intent"] == {"name": "inform", "confidence": 1.0}
    assert payload["entities"] == [{"entity": "city", "start": 7, "end": 25, "value": "Berlin",
                                    "extractor": "payload"}]
    assert rasa_api.payload_parse("just text") is None
    assert rasa_api.entities_of([{"entity": "a", "value": 1}, {"entity": "a", "value": 2}]) == {"a": [1, 2]}
    assert payload_text("remind", [{"entity": "t", "value": "8pm"}]) == '/remind{"t":"8pm"}'
    assert payload_text("greet", []) == "/greet"
    for bad in ("NOPE", "all events"):
        with pytest.raises(BadRequest, match="include_events"):
            rasa_api.verbosity_of(bad)
    assert rasa_api.verbosity_of("all") == "ALL" and rasa_api.verbosity_of(None) == "AFTER_RESTART"
    for bad in ("yesterday", "nan", "inf"):
        with pytest.raises(BadRequest, match="until"):
            rasa_api.until_of(bad)
    with pytest.raises(BadRequest):
        rasa_api.entities_of([{"value": 1}])
    for bad_parse in ({"intent": "greet"}, {"intent": {"name": "greet", "confidence": "high"}},
                      {"intent": {"name": "greet"}, "intent_ranking": [{"name": "greet", "confidence": "x"}]},
                      {"intent": {"name": "greet"}, "entities": "Berlin"}):
        with pytest.raises(BadRequest):
            rasa_api.given_parse(bad_parse, "hi")
    given = rasa_api.given_parse({"intent": {"name": "greet"}, "entities": [{"entity": "e", "value": 1}]},
                                 "hi")
    assert given["intent"] == {"name": "greet", "confidence": 1.0} == given["intent_ranking"][0]
    assert given["entities"] == [{"entity": "e", "value": 1}] and set(given) == PARSE_KEYS
    assert rasa_api.domain_intents({"intents": ["greet", {"EXTERNAL_reminder": {"use_entities": []}}]}) == \
        {"greet", "EXTERNAL_reminder"}


def test_rasa_error_shape() -> None:
    body = json.loads(rasa_api.rasa_error(403, "forbidden", "User has insufficient permissions.").text or "")
    assert set(body) == ERROR_KEYS
    assert body["status"] == "failure" and body["reason"] == "NotAuthorized" and body["code"] == 403


# ---------------------------------------------------------------- through the real app


@pytest.fixture
def api_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv(JWT_ENV, JWT_SECRET.decode())
    return {"rasa_api_token_env": TOKEN_ENV, "rasa_api_jwt_secret_env": JWT_ENV}


async def rasa_script(http: TestClient, token: str, conversation: str) -> dict[str, Any]:
    """What a script written against Rasa's HTTP API does: parse, log a message, trigger an intent,
    read the tracker; only Rasa's documented keys are read."""
    auth = {"token": token}
    version = await (await http.get("/version")).json()
    assert version["version"].startswith("3.") and version["minimum_compatible_version"]
    parsed = await (await http.post("/model/parse", params=auth, json={"text": "hello"})).json()
    intent = parsed["intent"]["name"]
    logged = await http.post(f"/conversations/{conversation}/messages", params=auth,
                             json={"text": "hello", "sender": "user"})
    assert logged.status == 200, await logged.text()
    triggered = await http.post(f"/conversations/{conversation}/trigger_intent", params=auth,
                                json={"name": intent, "entities": {}})
    assert triggered.status == 200, await triggered.text()
    answer = await triggered.json()
    tracker = await (await http.get(f"/conversations/{conversation}/tracker", params=auth)).json()
    return {"parsed": parsed, "logged": await logged.json(), "triggered": answer, "tracker": tracker}


@pytest.mark.slow
async def test_the_shops_own_knowledge_over_rasas_api(
    aiohttp_client: Any, shop_settings: Settings, api_env: dict[str, str]
) -> None:
    from bot.server import create_app
    from bot.web.openapi import build_document

    client = await aiohttp_client(create_app(shop_settings.model_copy(update=api_env)))

    # A script written against Rasa's API runs unchanged.
    run = await rasa_script(client, TOKEN, "script-1")
    assert set(run["parsed"]) >= PARSE_KEYS and run["parsed"]["intent"]["name"] == "greeting"
    assert run["parsed"]["intent_ranking"][0]["name"] == "greeting"
    assert 0.5 < run["parsed"]["intent"]["confidence"] <= 1.0
    assert set(run["logged"]) == TRACKER_KEYS and run["logged"]["events"][-1]["event"] == "user"
    assert set(run["triggered"]) == {"tracker", "messages"}
    assert run["triggered"]["messages"] and run["triggered"]["messages"][0]["recipient_id"] == "script-1"
    assert run["triggered"]["messages"][0]["text"].startswith("Hello! I'm Shopbot")
    tracker = run["tracker"]
    assert set(tracker) == TRACKER_KEYS and tracker["sender_id"] == "script-1"
    assert [e["event"] for e in tracker["events"]] == ["user", "user", "bot", "action"]
    assert tracker["events"][1]["text"] == "/greeting"
    assert tracker["latest_message"]["intent"]["name"] == "greeting"
    assert tracker["latest_action_name"] == "action_listen" and tracker["paused"] is False
    assert "order_number" not in tracker["slots"] and tracker["slots"]["turns"] == 1

    # The same conversation as the REST channel's sender.
    said = await client.post("/webhooks/rest/webhook", json={"sender": "script-1", "message": "thanks!"})
    assert said.status == 200
    after = await (await client.get("/conversations/script-1/tracker", params={"token": TOKEN})).json()
    assert [e["text"] for e in after["events"] if e["event"] == "user"][-1] == "thanks!"
    assert after["latest_input_channel"] == "rest"

    # An external event for a shopper on the widget: `latest` sends the answer to their socket.io.
    async with Shopper(str(client.make_url("")).rstrip("/")) as shopper:
        session = await shopper.session("widget-1")
        await shopper.say(session, "hello")
        pushed = await client.post(f"/conversations/{session}/trigger_intent", json={"name": "thanks"},
                                   params={"token": TOKEN, "output_channel": "latest"})
        body = await pushed.json()
        assert pushed.status == 200 and "messages" not in body, "sent to the widget, as Rasa does"
        assert (await shopper.arrived("bot_uttered", lambda m: "You're welcome" in m.get("text", "")))
        assert body["tracker"]["latest_input_channel"] == "socketio"

    # Entities: the shop's own patterns in typed text, a payload's as given.
    parsed = await (await client.post("/model/parse", params={"token": TOKEN, "emulation_mode": "LUIS"},
                                      json={"text": "where is my order 573415?", "message_id": "m-1"})).json()
    assert parsed["message_id"] == "m-1"
    assert parsed["entities"] == [{"entity": "order_number", "value": "573415", "start": 18, "end": 24,
                                   "confidence_entity": 1.0, "extractor": "patterns"}]
    payload = await (await client.post("/model/parse", params={"token": TOKEN},
                                       json={"text": '/order_status{"order_number": "573415"}'})).json()
    assert payload["intent"] == {"name": "order_status", "confidence": 1.0}
    assert [(e["entity"], e["value"]) for e in payload["entities"]] == [("order_number", "573415")]

    # Status, include_events, errors in Rasa's shape.
    status = await (await client.get("/status", params={"token": TOKEN})).json()
    assert {"model_id", "model_file", "num_active_training_jobs"} <= set(status) and status["model_id"]
    quiet = await (await client.get("/conversations/script-1/tracker",
                                    params={"token": TOKEN, "include_events": "NONE"})).json()
    assert quiet["events"] is None and quiet["latest_message"]["text"] == "thanks!"
    new = await (await client.get("/conversations/never-seen/tracker", params={"token": TOKEN})).json()
    assert new["events"] == [] and new["sender_id"] == "never-seen"
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("get", "/conversations/script-1/tracker", {"params": {"token": TOKEN, "include_events": "SOME"}},
         400),
        ("post", "/model/parse", {"params": {"token": TOKEN}, "json": {"message": "hi"}}, 400),
        ("post", "/model/parse", {"params": {"token": TOKEN}, "data": b"not json"}, 400),
        ("post", "/conversations/script-1/messages", {"params": {"token": TOKEN},
                                                      "json": {"text": "hi", "sender": "bot"}}, 400),
        ("post", "/conversations/script-1/trigger_intent", {"params": {"token": TOKEN},
                                                            "json": {"name": "no_such_intent"}}, 400),
        ("post", "/conversations/script-1/execute", {"params": {"token": TOKEN}, "json": {"name": "utter_x"}},
         409),
        ("get", "/conversations/script-1/story", {"params": {"token": TOKEN}}, 404),
        ("get", "/status", {}, 401),
        ("get", "/status", {"params": {"token": "wrong"}}, 401),
        ("get", "/conversations/script-1/tracker", {"headers": bearer(rasa_jwt("ops", "admin", ttl_s=-1))},
         401),
        ("get", "/conversations/script-1/tracker", {"headers": bearer(rasa_jwt("script-2", "user"))}, 403),
        ("get", "/status", {"headers": bearer(rasa_jwt("script-1", "user"))}, 403),
    ]
    for method, path, kwargs, code in cases:
        resp = await getattr(client, method)(path, **kwargs)
        body = await resp.json()
        assert resp.status == code and set(body) == ERROR_KEYS and body["code"] == code, (path, body)
        assert body["status"] == "failure"
    own = await client.get("/conversations/script-1/tracker", headers=bearer(rasa_jwt("script-1", "user")))
    assert own.status == 200 and (await own.json())["sender_id"] == "script-1"
    admin = await client.get("/status", headers=bearer(rasa_jwt("ops", "admin")))
    assert admin.status == 200 and admin.headers["Cache-Control"] == "no-store"

    # In the served API description, with Rasa's security schemes.
    doc = build_document(client.app)
    for path, method in [("/version", "get"), ("/status", "get"), ("/model/parse", "post"),
                         ("/conversations/{conversation_id}/tracker", "get"),
                         ("/conversations/{conversation_id}/messages", "post"),
                         ("/conversations/{conversation_id}/trigger_intent", "post"),
                         ("/conversations/{conversation_id}/execute", "post")]:
        op = doc["paths"][path][method]
        assert op["security"] == ([] if path == "/version" else [{"RasaToken": []}, {"RasaJWT": []}])
        if path != "/version":
            assert {"200", "400", "401", "403", "503"} <= set(op["responses"])
    assert {"RasaToken", "RasaJWT", "session"} == set(doc["components"]["securitySchemes"])
    refs = json.dumps(doc).split('"$ref": "#/components/schemas/')[1:]
    assert all(ref.split('"')[0] in doc["components"]["schemas"] for ref in refs)


@pytest.mark.slow
async def test_closed_unless_configured(aiohttp_client: Any, shop_settings: Settings) -> None:
    from bot.server import create_app

    settings = shop_settings.model_copy(update={"rasa_api_token_env": "SHOPBOT_TEST_UNSET_TOKEN",
                                                "rasa_api_jwt_secret_env": "SHOPBOT_TEST_UNSET_JWT"})
    client = await aiohttp_client(create_app(settings))
    assert (await client.get("/version")).status == 200, "open, as in Rasa"
    for path in ("/status", "/conversations/c/tracker"):
        for query in ({}, {"token": ""}, {"token": "anything"}):
            resp = await client.get(path, params=query)
            assert resp.status == 403 and (await resp.json())["reason"] == "NotAuthorized"
    resp = await client.post("/model/parse", json={"text": "hello"})
    assert resp.status == 403


@pytest.mark.slow
async def test_a_rasa_project_over_rasas_api(
    aiohttp_client: Any, starter_var: Path, tmp_path: Path, api_env: dict[str, str]
) -> None:
    from tests.bot.rasa.test_rasa_rest import app_for
    from tests.retrieval.test_rasa_project import STARTER

    client = await app_for(aiohttp_client, starter_var, STARTER, tmp_path, **api_env)
    auth = {"token": TOKEN}
    parsed = await (await client.post("/model/parse", params=auth, json={"text": "I am sad"})).json()
    assert parsed["intent"]["name"] == "mood_unhappy"
    moodbot = {"mood_unhappy", "mood_great", "greet", "goodbye", "affirm", "deny", "bot_challenge"}
    assert {i["name"] for i in parsed["intent_ranking"]} <= moodbot
    greeted = await (await client.post("/conversations/mood/trigger_intent", params=auth,
                                       json={"name": "greet"})).json()
    assert greeted["messages"] == [{"recipient_id": "mood", "text": "Hey! How are you?"}]
    logged = await (await client.post("/conversations/mood/messages", params=auth,
                                      json={"text": "I am sad", "sender": "user"})).json()
    assert logged["latest_message"]["intent"]["name"] == "mood_unhappy"
    # Logged, then answered in its context: the project's story after greet, mood_unhappy.
    told = await (await client.post("/conversations/mood/trigger_intent", params=auth,
                                    json={"name": "mood_unhappy", "entities": []})).json()
    assert [m.get("text") for m in told["messages"]][0] == "Here is something to cheer you up:"
    tracker = told["tracker"]
    assert set(tracker) == TRACKER_KEYS and tracker["slots"] == {} and tracker["active_loop"] == {}
    assert [e["event"] for e in tracker["events"]].count("user") == 3
    refused = await client.post("/conversations/mood/trigger_intent", params=auth, json={"name": "greeting"})
    assert refused.status == 400, "the shop's intents are not the project's"

    # One action run from outside, as Rasa's execute runs it: its messages, then it is in the tracker.
    ran = await client.post("/conversations/mood/execute", params=auth,
                            json={"name": "utter_goodbye", "policy": "external", "confidence": 1.0})
    assert ran.status == 200, await ran.text()
    executed = await ran.json()
    assert executed["messages"] == [{"recipient_id": "mood", "text": "Bye"}]
    assert [(e["event"], e.get("name") or e.get("text")) for e in executed["tracker"]["events"][-2:]] == [
        ("action", "utter_goodbye"), ("bot", "Bye")]
    assert executed["tracker"]["events"][-2]["policy"] == "external"
    assert executed["tracker"]["latest_action_name"] == "utter_goodbye"
    unknown = await client.post("/conversations/mood/execute", params=auth, json={"name": "action_nope"})
    assert unknown.status == 400 and (await unknown.json())["reason"] == "BadRequest"
