"""Rasa's HTTP API beside Rasa's channels: ``GET /version``, ``GET /status``, ``POST /model/parse``
and a conversation's ``GET tracker``, ``POST messages``, ``POST trigger_intent``, ``POST execute``.

Paths, bodies and answers are Rasa's (``bot/rasa/http_api.py`` builds them, its description is
``bot/rasa/http_api_schema.py``); errors come in Rasa's shape through the kernel's one error
middleware (``ERROR_BODY``). Every path but ``/version`` is guarded as Rasa guards it
(``bot/rasa/api_auth.py``), and closed when neither a token nor a JWT secret is configured.

A conversation's id is the REST channel's ``sender`` and socket.io's ``session_id``: the same
conversation, pseudonymised the same way. ``messages`` logs a user message without answering it;
``trigger_intent`` runs the intent as its payload message (``/intent{...}``) through the turn
pipeline, so the conversation's lock, the turn log and the flags apply as to any message;
``execute`` runs one action through the project's responder. Their messages come back in the
answer, or with ``?output_channel=socketio`` (or ``latest``, when the conversation's latest
message came over socket.io) go to the conversation's widget, as Rasa's external events do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import partial
from typing import Any, Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel

from bot.channels.inbound import clean_message
from bot.engine.interfaces import TurnInput
from bot.engine.nlu import reader
from bot.rasa import http_api as rasa_api
from bot.rasa.api_auth import ApiAuth
from bot.rasa.http_api_schema import COMPONENTS, OPERATIONS
from bot.rasa.payload import payload_text
from bot.serving.desk import DESK
from bot.serving.engine import MEMORY, PIPELINE
from bot.serving.knowledge import KNOWLEDGE, RASA
from bot.serving.models import UNDERSTANDING
from bot.serving.turnlog import RECORDS, SINK, TRANSCRIPTS
from bot.web.body import read_json
from bot.web.errors import ERROR_BODY
from bot.web.kernel import Feature
from bot.web.keys import CLIENT_IP, SETTINGS, VERSIONS
from bot.web.openapi import documented
from core.errors import BadRequest, Conflict
from core.messages import BotMessage
from core.turns import Route
from monitoring.flags import TurnFacts
from retrieval.rasa_project import NLU_FALLBACK

M = TypeVar("M", bound=BaseModel)
Config = Mapping[Any, Any]


class Pseudonyms(Protocol):
    """The channels' conversation ids (``bot/channels/ids.py: ConversationIds``)."""

    def internal(self, sender: str) -> str: ...


AUTH = web.AppKey("rasa_api_auth", ApiAuth)
IDS: web.AppKey[Pseudonyms] = web.AppKey("rasa_api_ids")
# The socket.io channel, for ``?output_channel=socketio`` (absent: messages always come back).
PUSH: web.AppKey[rasa_api.MessagePush] = web.AppKey("rasa_api_push")


def _doc(name: str) -> Any:
    return documented(OPERATIONS[name], COMPONENTS)


@_doc("version")
async def version(request: web.Request) -> web.Response:
    """The Rasa version whose API this is (open, as in Rasa)."""
    return web.json_response(rasa_api.version_body())


@_doc("status")
async def status(request: web.Request) -> web.Response:
    """The model answering now: the router, its version the model's id."""
    return web.json_response(rasa_api.status_body(request.config_dict[VERSIONS]()))


@_doc("parse")
async def parse(request: web.Request) -> web.Response:
    """The intent, the intent ranking and the entities of one text; nothing is stored.

    Rasa's ``emulation_mode`` is accepted; the answer is always in Rasa's own form.
    """
    body = await read_json(request, rasa_api.ParseRequest)
    config = request.config_dict
    text = clean_message(body.text, config[SETTINGS].max_message_chars)
    result = await parse_text(config, text)
    if body.message_id is not None:
        result["message_id"] = body.message_id
    return web.json_response(result)


@_doc("tracker")
async def tracker(request: web.Request) -> web.Response:
    """The conversation's tracker; one never seen is new and empty, as in Rasa."""
    verbosity = rasa_api.verbosity_of(request.query.get("include_events"))
    until = rasa_api.until_of(request.query.get("until"))
    sender, conversation = conversation_of(request)
    return web.json_response(await tracker_of(request.config_dict, sender, conversation, verbosity, until))


@_doc("messages")
async def messages(request: web.Request) -> web.Response:
    """Log a user message in the conversation without answering it; the tracker after it."""
    verbosity = rasa_api.verbosity_of(request.query.get("include_events"))
    body = await read_json(request, rasa_api.MessageRequest)
    if body.sender != "user":
        raise BadRequest("Currently, only user messages can be passed to this endpoint. "
                         f"Messages of sender '{body.sender[:40]}' cannot be handled.")
    sender, conversation = conversation_of(request)
    config = request.config_dict
    text = clean_message(body.text, config[SETTINGS].max_message_chars)
    parsed = rasa_api.given_parse(body.parse_data, text) if body.parse_data is not None else \
        await parse_text(config, text)
    intent = str(parsed["intent"]["name"])
    confidence = float(parsed["intent"]["confidence"])
    ranking = [[str(i["name"]), round(float(i.get("confidence") or 0.0), 4)]
               for i in parsed["intent_ranking"]]
    async with config[PIPELINE].locks.hold(conversation):
        rasa = config.get(RASA)
        if rasa is not None:
            await rasa_api.remember(rasa, conversation, intent)
        # The record's redaction may run the name model: off the event loop.
        record = await asyncio.to_thread(partial(
            config[RECORDS].turn, conversation_id=conversation, channel=rasa_api.CHANNEL, user_text=text,
            facts=TurnFacts(Route.DECLINE if intent == NLU_FALLBACK else Route.FAQ, confidence),
            versions=dict(config[VERSIONS]()),
            metadata={"label": intent, "confidence": round(confidence, 4), "ranking": ranking,
                      "rasa_api": "messages"}))
    # Journalled before the answer: a message the API acknowledged is never lost.
    await config[SINK].submit(record)
    return web.json_response(await tracker_of(config, sender, conversation, verbosity, None))


@_doc("trigger_intent")
async def trigger_intent(request: web.Request) -> web.Response:
    """Run an intent with its entities as if the user had sent it, through the turn pipeline."""
    verbosity = rasa_api.verbosity_of(request.query.get("include_events"))
    body = await read_json(request, rasa_api.IntentTriggerRequest)
    sender, conversation = conversation_of(request)
    config = request.config_dict
    rasa = config.get(RASA)
    known = rasa_api.known_intents(rasa.project if rasa is not None else None,
                                   config[PIPELINE].routing.intent_routes, config[KNOWLEDGE].entries)
    if body.name not in known:
        raise BadRequest(f"The intent '{body.name}' does not exist in the domain.")
    entities = [{"entity": k, "value": v} for k, v in rasa_api.entities_of(body.entities).items()]
    text = clean_message(payload_text(body.name, entities),
                         config[SETTINGS].max_message_chars)
    pushed = await pushes(request, conversation)
    turn = TurnInput(conversation, text, "socketio" if pushed else rasa_api.CHANNEL, {},
                     client=config[CLIENT_IP](request))
    result = await config[PIPELINE].run(turn)
    return await answer(request, sender, conversation, verbosity, result.messages, pushed)


@_doc("execute")
async def execute(request: web.Request) -> web.Response:
    """Run one action of the project in the conversation, as the project's own turn runs it."""
    verbosity = rasa_api.verbosity_of(request.query.get("include_events"))
    body = await read_json(request, rasa_api.ActionRequest)
    sender, conversation = conversation_of(request)
    config = request.config_dict
    rasa = config.get(RASA)
    if rasa is None:
        raise Conflict("no Rasa project is loaded: the shop's own knowledge has no actions to execute "
                       "by name")
    pushed = await pushes(request, conversation)
    async with config[PIPELINE].locks.hold(conversation):
        said = await rasa.execute(conversation, body.name)
        record = await asyncio.to_thread(partial(
            config[RECORDS].turn, conversation_id=conversation,
            channel="socketio" if pushed else rasa_api.CHANNEL, user_text="", facts=TurnFacts(Route.FAQ),
            messages=said, versions=dict(config[VERSIONS]()),
            metadata={"action": body.name, "policy": body.policy, "action_confidence": body.confidence,
                      "rasa_api": "execute"}))
    await config[SINK].submit(record)
    return await answer(request, sender, conversation, verbosity, said, pushed)


# ---------------------------------------------------------------- the guard and the sub-apps


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every path but ``/version`` needs the token or a JWT that may use it (deny by default)."""
    if request.match_info.handler is not version:
        request.config_dict[AUTH].check(request.query.get("token"), request.headers.get("Authorization"),
                                        request.match_info.get("conversation_id"))
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def create_feature(ids: Pseudonyms, auth: ApiAuth, push: rasa_api.MessagePush | None = None) -> Feature:
    """Rasa's HTTP API: one sub-app per URL prefix (aiohttp mounts a sub-app under one).

    ``ids`` are the channels' pseudonyms; ``push`` the socket.io channel (``output_channel``).
    """
    routes: dict[str, list[web.RouteDef]] = {
        "/version": [web.get("", version)],
        "/status": [web.get("", status)],
        "/model": [web.post("/parse", parse)],
        "/conversations": [
            web.get("/{conversation_id}/tracker", tracker),
            web.post("/{conversation_id}/messages", messages),
            web.post("/{conversation_id}/trigger_intent", trigger_intent),
            web.post("/{conversation_id}/execute", execute),
        ],
    }
    feature: dict[str, web.Application] = {}
    for prefix, defs in routes.items():
        app = web.Application(middlewares=[guard])
        app[ERROR_BODY] = rasa_api.rasa_error
        app[AUTH] = auth
        app[IDS] = ids
        if push is not None:
            app[PUSH] = push
        app.add_routes(defs)
        feature[prefix] = app
    return feature


# ---------------------------------------------------------------- what the routes share


async def parse_text(config: Config, text: str) -> dict[str, Any]:
    """Rasa's parse result of ``text``: a payload as it names itself, typed text as the router
    reads it (batched on the model thread) with its entities (off the event loop)."""
    found = rasa_api.payload_parse(text)
    if found is not None:
        return found
    typed = reader(config[SETTINGS].order_number_pattern)
    understood, entities = await asyncio.gather(config[UNDERSTANDING].understand(text),
                                                rasa_api.typed_entities(config.get(RASA), text, typed))
    return rasa_api.router_parse(text, understood.routed, entities)


async def tracker_of(config: Config, sender: str, conversation: str, verbosity: str,
                     until: float | None) -> dict[str, Any]:
    """The conversation's tracker: its logged turns, its slots and whether a person has it."""
    await config[SINK].flushed()
    turns = await asyncio.to_thread(config[TRANSCRIPTS].conversation, conversation,
                                    rasa_api.TRACKER_MAX_TURNS)
    rasa = config.get(RASA)
    loop = None
    if rasa is not None:
        slots, loop = await rasa_api.project_state(rasa, conversation)
    else:
        slots = rasa_api.shop_slots((await config[MEMORY].get(conversation)).to_json())
    paused = config[DESK].active(conversation) is not None
    return rasa_api.tracker_state(sender, turns, slots, paused=paused, active_loop=loop, verbosity=verbosity,
                                  until=until)


def conversation_of(request: web.Request) -> tuple[str, str]:
    """The conversation id as the client gave it, and as Shopbot keeps it (pseudonymised)."""
    sender = request.match_info["conversation_id"]
    return sender, request.config_dict[IDS].internal(sender)


async def pushes(request: web.Request, conversation: str) -> bool:
    """Whether ``?output_channel=`` sends the bot's messages to the conversation's widget:
    ``socketio``, or ``latest`` when the latest message came over socket.io."""
    config = request.config_dict
    asked = request.query.get("output_channel", "")
    if asked == "latest":
        await config[SINK].flushed()
        turns = await asyncio.to_thread(config[TRANSCRIPTS].conversation, conversation,
                                        rasa_api.TRACKER_MAX_TURNS)
        channels = [t.record.channel for t in turns if t.record.user_text]
        asked = channels[-1] if channels else ""
    return asked == "socketio" and PUSH in config


async def answer(request: web.Request, sender: str, conversation: str, verbosity: str,
                 said: tuple[BotMessage, ...], pushed: bool) -> web.Response:
    """``{"tracker", "messages"}``; messages sent to the widget are not in it (as in Rasa)."""
    config = request.config_dict
    if pushed:
        await config[PUSH].send(conversation, said)
    body: dict[str, Any] = {"tracker": await tracker_of(config, sender, conversation, verbosity, None)}
    if not pushed:
        body["messages"] = [m.to_rest(sender) for m in said]
    return web.json_response(body)


__all__ = ["AUTH", "IDS", "PUSH", "create_feature"]
