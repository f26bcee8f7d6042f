"""Rasa's HTTP API in Rasa's own shapes: versions, parse results, trackers, errors and bodies.

What Rasa's server answers (its OpenAPI spec, ``docs/static/spec/rasa.yml``, as Rasa 3 fills it
in) from what Shopbot keeps, with no HTTP of its own: the routes are the channels feature's
(``bot/channels/rasa_http.py``), the guard ``bot/rasa/api_auth.py``, the description
``bot/rasa/http_api_schema.py``. It works for a Rasa project and for the shop's own knowledge
alike (intents are the router's labels):

* a parse is the router's answer; a payload (``/intent{...}``) names its intent, as Rasa reads
  it; entities come from a payload, the project's trained extractor when the responder has one,
  else the shop's own patterns;
* the tracker is built from the turn log (redacted), the project's tracker slots (or the shop's
  own, less what identifies a person's order) and the handoff desk (``paused``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, Protocol

from aiohttp import web
from pydantic import BaseModel, Field

from bot.engine.interfaces import Entities
from bot.engine.nlu import extract
from bot.rasa.payload import parse_payload
from bot.rasa.responder import RasaResponder
from bot.rasa.slots import Tracker, initial_values
from core.errors import BadRequest
from core.messages import BotMessage
from core.turns import RouterOutput
from monitoring.transcripts import TranscriptTurn
from retrieval.rasa_flows import keep_events
from retrieval.rasa_project import NLU_FALLBACK, RasaProject

# The Rasa release whose HTTP API this speaks (Rasa Open Source's last 3.x), and the oldest Rasa
# whose clients it serves: what a script checking GET /version compares against.
RASA_VERSION = "3.6.20"
MINIMUM_COMPATIBLE_VERSION = "3.5.0"
# Rasa's error reasons by status (any other: ServerError from 500 up, else BadRequest).
REASONS = {400: "BadRequest", 401: "NotAuthenticated", 403: "NotAuthorized", 404: "NotFound",
           409: "Conflict", 413: "PayloadTooLarge", 429: "TooManyRequests", 500: "ConversationError",
           503: "ServiceUnavailable"}
VERBOSITIES = ("ALL", "AFTER_RESTART", "APPLIED", "NONE")
# The latest turns a tracker is built from (a conversation longer than this shows its end).
TRACKER_MAX_TURNS = 500
CHANNEL = "rasa_api"
_SHOP_PRIVATE_SLOTS = frozenset({"order_number", "verified_order"})


def rasa_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """An error as Rasa's server writes it; Shopbot's own code is kept in ``details``."""
    body = {"version": RASA_VERSION, "status": "failure", "message": message,
            "reason": REASONS.get(status, "ServerError" if status >= 500 else "BadRequest"),
            "details": {"code": code}, "help": None, "code": status}
    return web.json_response(body, status=status, headers=headers)


class MessagePush(Protocol):
    """Where ``output_channel=socketio`` (or ``latest``, when that was socket.io) sends messages."""

    async def send(self, conversation_id: str, messages: Sequence[BotMessage]) -> None: ...


class ParseRequest(BaseModel):
    """``POST /model/parse``."""

    text: str
    message_id: str | None = Field(default=None, max_length=128)


class MessageRequest(BaseModel):
    """``POST /conversations/{conversation_id}/messages``."""

    text: str
    sender: str
    parse_data: dict[str, Any] | None = None


class IntentTriggerRequest(BaseModel):
    """``POST /conversations/{conversation_id}/trigger_intent``."""

    name: str = Field(min_length=1, max_length=200)
    entities: dict[str, Any] | list[dict[str, Any]] | None = None


class ActionRequest(BaseModel):
    """``POST /conversations/{conversation_id}/execute``."""

    name: str = Field(min_length=1, max_length=200)
    policy: str | None = None
    confidence: float | None = None


# ---------------------------------------------------------------- parsing


def version_body() -> dict[str, str]:
    """``GET /version``."""
    return {"version": RASA_VERSION, "minimum_compatible_version": MINIMUM_COMPATIBLE_VERSION}


def status_body(versions: Mapping[str, str]) -> dict[str, Any]:
    """``GET /status``: the router answering now is the model, its version the model's id."""
    router = versions.get("router", "")
    # Shopbot trains outside the server (`shopbot train`): no training job ever runs in it.
    return {"model_id": router, "model_file": f"router-{router}", "num_active_training_jobs": 0,
            "fingerprint": dict(versions)}


def payload_parse(text: str) -> dict[str, Any] | None:
    """The parse result of a payload (``/intent{...}``), which names its intent (Rasa's
    RegexMessageHandler), or None when ``text`` is no payload."""
    payload = parse_payload(text)
    if payload is None:
        return None
    intent = {"name": payload.intent, "confidence": 1.0}
    start, end = text.find("{"), text.rfind("}") + 1
    found = [{"entity": name, "start": start, "end": end, "value": value, "extractor": "payload"}
             for name, value in payload.entities]
    return {"text": text, "intent": intent, "entities": found, "intent_ranking": [intent]}


def router_parse(text: str, routed: RouterOutput, entities: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The parse result of typed text from the router's output: a declined message is Rasa's
    FallbackClassifier's ``nlu_fallback``, first in the ranking."""
    ranking = [{"name": label, "confidence": round(p, 6)} for label, p in routed.ranking]
    if routed.label is None:
        intent = {"name": NLU_FALLBACK, "confidence": round(1.0 - routed.confidence, 6)}
        ranking = [intent, *ranking]
    else:
        intent = {"name": routed.label, "confidence": round(routed.confidence, 6)}
    return {"text": text, "intent": intent, "entities": [dict(e) for e in entities],
            "intent_ranking": ranking}


async def typed_entities(
    rasa: RasaResponder | None, text: str, typed: Callable[[str], Entities] = extract
) -> list[dict[str, Any]]:
    """Entities in typed text, as the turn sees them: a project's trained extractor's (CPU work, off
    the event loop; none without one), the shop's own patterns (``typed``: order numbers, e-mail
    addresses, postcodes) for the shop's knowledge."""
    if rasa is not None:
        found = await asyncio.to_thread(rasa.extractor.run, text) if rasa.extractor is not None else ()
        return [dict(e) for e in found]
    low, out = text.lower(), []
    for entity in typed(text).as_rasa():
        value = entity["value"]
        at = low.find(value.lower())
        # A value normalised away from its text (spaces in a postcode) spans the message.
        start, end = (at, at + len(value)) if at >= 0 else (0, len(text))
        out.append({**entity, "start": start, "end": end, "confidence_entity": 1.0, "extractor": "patterns"})
    return out


def given_parse(data: Mapping[str, Any], text: str) -> dict[str, Any]:
    """A client's own ``parse_data`` (Rasa then skips NLU): its intent, ranking and entities."""
    intent = data.get("intent")
    if not isinstance(intent, dict) or not isinstance(intent.get("name"), str):
        raise BadRequest("parse_data.intent: an object with the intent's name")
    confidence = intent.get("confidence", 1.0)
    if not _number(confidence):
        raise BadRequest("parse_data.intent.confidence: a number")
    named = {"name": intent["name"], "confidence": float(confidence)}
    ranking = data.get("intent_ranking") or [named]
    entities = data.get("entities") or []
    if not isinstance(ranking, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str)
                                                 and _number(i.get("confidence", 0.0)) for i in ranking):
        raise BadRequest("parse_data.intent_ranking: a list of intents with their confidence")
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise BadRequest("parse_data.entities: a list of entities")
    return {"text": text, "intent": named, "entities": entities, "intent_ranking": ranking}


def _number(value: Any) -> bool:
    """A finite JSON number (a body's numbers are bounded on parse, ``bot/web/body.py``: any of
    them converts to a float)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(float(value))


def entities_of(given: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """``trigger_intent``'s entities, ``{"entity": value}`` or Rasa's ``[{"entity", "value"}]``, as a
    payload's object (an entity given twice: a list of its values)."""
    if given is None:
        return {}
    if isinstance(given, Mapping):
        return dict(given)
    out: dict[str, Any] = {}
    for item in given:
        name = item.get("entity")
        if not isinstance(name, str) or "value" not in item:
            raise BadRequest("entities: each item needs an 'entity' name and a 'value'")
        if name in out:
            before = out[name]
            out[name] = [*before, item["value"]] if isinstance(before, list) else [before, item["value"]]
        else:
            out[name] = item["value"]
    return out


def known_intents(project: RasaProject | None, routed: Iterable[str], shop: Iterable[str]) -> set[str]:
    """The intents ``trigger_intent`` takes: the project's (its domain's too), else the shop's
    entries, and the intents with a route of their own (``routed``: ``/handoff``)."""
    if project is None:
        return {*routed, *shop}
    return {*routed, *project.labels, *domain_intents(project.domain)}


def domain_intents(domain: Mapping[str, Any]) -> set[str]:
    """The intent names a domain declares (``- greet`` or ``- greet: {use_entities: ...}``)."""
    out: set[str] = set()
    for item in domain.get("intents") or []:
        if isinstance(item, str):
            out.add(item)
        elif isinstance(item, dict):
            out.update(str(k) for k in item)
    return out


async def remember(rasa: RasaResponder, conversation: str, intent: str) -> None:
    """A message joins the project's tracker history with no action after it (none ran)."""
    project = rasa.project
    keep = keep_events(chain.from_iterable(project.continuations.values()), project.max_history)
    held = await rasa.slots.get(conversation) or Tracker()
    await rasa.slots.put(conversation, Tracker(held.slots, held.history.after(intent, (), keep)))


# ---------------------------------------------------------------- the tracker


async def project_state(rasa: RasaResponder, conversation: str) -> tuple[dict[str, Any], str | None]:
    """The project's slot values in the conversation (the domain's initial values where unset),
    and its active loop (form), if any."""
    held = await rasa.slots.get(conversation) or Tracker()
    return {**initial_values(rasa.project.slots), **held.slots}, held.active_loop


def shop_slots(state: Mapping[str, Any]) -> dict[str, Any]:
    """The shop's own dialogue state, less what identifies a person's order."""
    return {k: v for k, v in state.items() if k not in _SHOP_PRIVATE_SLOTS}


def tracker_state(sender: str, turns: Sequence[TranscriptTurn], slots: Mapping[str, Any], *,
                  paused: bool = False, active_loop: str | None = None, verbosity: str = "AFTER_RESTART",
                  until: float | None = None) -> dict[str, Any]:
    """Rasa's tracker JSON from a conversation's logged turns and its slots.

    The turn log knows no restarts nor reverted messages, so ``ALL``, ``AFTER_RESTART`` and
    ``APPLIED`` give the same events; ``NONE`` gives ``"events": null``. ``until`` keeps the events
    up to that time (the slots are the current ones).
    """
    events = events_of(turns)
    if until is not None:
        events = [e for e in events if e["timestamp"] <= until]
    users = [e for e in events if e["event"] == "user"]
    actions = [e for e in events if e["event"] == "action"]
    latest_action = actions[-1]["name"] if actions else None
    return {
        "sender_id": sender,
        "slots": dict(slots),
        "latest_message": users[-1]["parse_data"] if users else
        {"intent": {}, "entities": [], "text": None, "message_id": None, "metadata": {}},
        "latest_event_time": events[-1]["timestamp"] if events else None,
        "followup_action": None,
        "paused": paused,
        "events": None if verbosity == "NONE" else events,
        "latest_input_channel": users[-1]["input_channel"] if users else None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action": {"action_name": latest_action} if latest_action else {},
        "latest_action_name": latest_action,
    }


def events_of(turns: Sequence[TranscriptTurn]) -> list[dict[str, Any]]:
    """Rasa's events of logged turns: each message (``user``), the action ``execute`` ran, the
    bot's messages (``bot``) and ``action_listen`` once the bot has answered a message."""
    events: list[dict[str, Any]] = []
    for turn in turns:
        record, meta = turn.record, turn.record.metadata
        ts = record.ts.timestamp()
        if record.user_text:
            events.append(_user(turn, ts))
        action = meta.get("action")
        if isinstance(action, str):
            events.append(_action(action, ts, meta.get("policy"), meta.get("action_confidence")))
        said = [r for r in record.response if isinstance(r, dict)]
        for item in said:
            events.append({
                "event": "bot", "timestamp": ts, "text": item.get("text"),
                "data": {k: item.get(k) for k in ("elements", "quick_replies", "buttons", "attachment",
                                                   "image", "custom")},
                "metadata": {"sender": item["sender"]} if isinstance(item.get("sender"), str) else {},
            })
        # The bot listens once it has answered a message (not after a message only logged, nor
        # after an action run from outside, as in Rasa).
        if record.user_text and turn.sender == "bot" and meta.get("rasa_api") != "messages":
            events.append(_action("action_listen", ts, None, None))
    return events


def _user(turn: TranscriptTurn, ts: float) -> dict[str, Any]:
    record, meta = turn.record, turn.record.metadata
    label = meta.get("label") or None
    confidence = meta.get("confidence")
    intent = {"name": label, "confidence": confidence} if label else {}
    ranking = [{"name": str(r[0]), "confidence": r[1]} for r in meta.get("ranking") or []
               if isinstance(r, list) and len(r) == 2]
    parse_data = {"intent": intent, "entities": [], "text": record.user_text, "message_id": record.turn_id,
                  "metadata": {}, "intent_ranking": ranking}
    return {"event": "user", "timestamp": ts, "text": record.user_text, "parse_data": parse_data,
            "input_channel": record.channel, "message_id": record.turn_id, "metadata": {}}


def _action(name: str, ts: float, policy: Any, confidence: Any) -> dict[str, Any]:
    return {"event": "action", "timestamp": ts, "name": name, "policy": policy, "confidence": confidence,
            "action_text": None, "hide_rule_turn": False}




def verbosity_of(value: str | None) -> str:
    """``?include_events=`` (default ``AFTER_RESTART``), or a 400 naming the allowed values."""
    verbosity = (value or "AFTER_RESTART").upper()
    if verbosity not in VERBOSITIES:
        raise BadRequest("Invalid parameter value for 'include_events'. "
                         f"Should be one of {', '.join(VERBOSITIES)}")
    return verbosity


def until_of(value: str | None) -> float | None:
    """``?until=`` as a Unix time, or a 400."""
    if not value:
        return None
    try:
        until = float(value)
    except ValueError as err:
        raise BadRequest("Invalid parameter value for 'until': a Unix timestamp") from err
    if not math.isfinite(until):
        raise BadRequest("Invalid parameter value for 'until': a Unix timestamp")
    return until


__all__ = ["MessagePush", "RASA_VERSION", "rasa_error", "tracker_state", "router_parse",
           "payload_parse", "typed_entities", "given_parse", "entities_of", "known_intents", "remember",
           "project_state", "shop_slots", "verbosity_of", "until_of", "status_body",
           "version_body"]
