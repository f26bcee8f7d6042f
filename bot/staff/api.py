"""The staff API: the handoff queue, claim, reply, resolve, transcripts and live updates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, Field

from bot.auth.guard import Role, requires
from bot.engine.interfaces import Slots
from bot.handoff.store import ACTIVE, HandoffStatus
from bot.serving.desk import DESK
from bot.serving.engine import MEMORY
from bot.serving.knowledge import KNOWLEDGE
from bot.serving.turnlog import SINK, TRANSCRIPTS
from bot.web.auth import current_user
from bot.web.body import read_json
from bot.web.openapi import operation
from core.errors import BadRequest
from core.shop import Product
from monitoring.transcripts import Transcripts

log = logging.getLogger(__name__)

TAGS = ("handoffs",)
# Path ids are checked by the router itself: anything else is a 404 before a handler runs.
HANDOFF_ID = r"[0-9a-f]{32}"
CONVERSATION_ID = r"[^/\x00-\x1f\x7f]{1,128}"
MAX_STAFF_TEXT = 4000
# A waiting or assigned conversation's language in the queue: the latest other than English
# among its last turns (about 1.5 ms a conversation on SQLite; resolved ones are not read).
LANGUAGE_TURNS = 30


class HandoffQuery(BaseModel):
    """Filter of the queue."""

    status: HandoffStatus | None = None


class StaffMessage(BaseModel):
    """``{"text"}``: what the staff member writes to the shopper."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_STAFF_TEXT)


class HandoffOut(BaseModel):
    """One handoff as the queue shows it."""

    id: str
    conversation_id: str
    reason: str
    status: HandoffStatus
    created_at: str
    waiting_s: float
    assignee: str | None
    claimed_at: str | None
    resolved_at: str | None
    last_message: str
    last_message_at: str
    language: str | None = Field(
        None, description="While pending or assigned: the ISO 639-1 code of the language other than "
                          "English the shopper last wrote in")


class HandoffList(BaseModel):
    """The queue."""

    handoffs: list[HandoffOut]
    counts: dict[str, int]


class FocusProduct(BaseModel):
    """A product the conversation is about, as the catalogue has it now."""

    stock_code: str
    name: str | None = Field(description="None when the catalogue no longer holds the stock code")
    price: float | None = Field(description="In pounds; None when the catalogue no longer holds it")


class Focus(BaseModel):
    """The products in focus: what the shopper's next "it" or "the second one" would mean."""

    product: FocusProduct | None = Field(description="The product in focus (the last one asked about)")
    shown: list[FocusProduct] = Field(description="The cards of the last answer that showed any, in order")


class Transcript(BaseModel):
    """A conversation with the bot's context for each of its turns."""

    conversation_id: str
    handoffs: list[HandoffOut]
    turns: list[dict[str, Any]]
    focus: Focus


def _status(request: web.Request) -> HandoffStatus | None:
    raw = request.query.get("status")
    if raw is None or raw == "":
        return None
    try:
        return HandoffStatus(raw)
    except ValueError as err:
        raise BadRequest("status must be one of pending, assigned, resolved") from err


@operation("List handoffs", query=HandoffQuery, response=HandoffList, tags=TAGS,
           description="Oldest first, with waiting time, assignee and the last message.")
@requires(Role.STAFF)
async def list_handoffs(request: web.Request) -> web.Response:
    """The handoff queue, optionally of one status."""
    desk = request.config_dict[DESK]
    found = await desk.list(_status(request))
    # What the log holds now, without waiting for the writer: a turn still on its way to the
    # database (the one escalating, at most) shows at the queue's next reload.
    active = {h.conversation_id for h in found if h.status in ACTIVE}
    languages = await asyncio.to_thread(_languages, request.config_dict[TRANSCRIPTS], active)
    handoffs = [{**h.to_json(), "language": languages.get(h.conversation_id)} for h in found]
    return web.json_response({"handoffs": handoffs, "counts": await desk.counts()})


def _languages(transcripts: Transcripts, conversation_ids: set[str]) -> dict[str, str]:
    """Each conversation's latest language other than English in its last turns (blocking)."""
    found = {}
    for conversation_id in conversation_ids:
        turns = transcripts.conversation(conversation_id, last=LANGUAGE_TURNS)
        codes = [t.record.metadata.get("language") for t in reversed(turns)]
        code = next((c for c in codes if isinstance(c, str) and c != "en"), None)
        if code is not None:
            found[conversation_id] = code
    return found


@operation("Claim a handoff", response=HandoffOut, tags=TAGS,
           responses={404: "no such handoff", 409: "claimed by someone else or resolved"})
@requires(Role.STAFF)
async def claim(request: web.Request) -> web.Response:
    """Take a pending conversation; the shopper is told a person has joined."""
    handoff = await request.config_dict[DESK].claim(request.match_info["id"], current_user(request).username)
    return web.json_response(handoff.to_json())


@operation("Send a message to the shopper", request_body=StaffMessage, tags=TAGS, status=201,
           responses={404: "no such handoff", 409: "not claimed yet"})
@requires(Role.STAFF)
async def send_message(request: web.Request) -> web.Response:
    """Deliver a staff reply to the shopper at once; it is logged as a ``human`` turn."""
    body = await read_json(request, StaffMessage)
    user = current_user(request)
    record = await request.config_dict[DESK].staff_message(
        request.match_info["id"], user.username, user.role is Role.ADMIN, body.text
    )
    return web.json_response({"turn_id": record.turn_id, "ts": record.ts.isoformat()}, status=201)


@operation("Resolve a handoff", response=HandoffOut, tags=TAGS,
           description="Hands the conversation back to the bot.",
           responses={403: "assigned to another member of staff", 404: "no such handoff",
                      409: "already resolved"})
@requires(Role.STAFF)
async def resolve(request: web.Request) -> web.Response:
    """Close the handoff; the bot answers the conversation again."""
    user = current_user(request)
    is_admin = user.role is Role.ADMIN
    handoff = await request.config_dict[DESK].resolve(request.match_info["id"], user.username, is_admin)
    return web.json_response(handoff.to_json())


@operation("A conversation's transcript", response=Transcript, tags=TAGS,
           description="Every turn with, for bot turns, its route, evidence, confidence and flags, and "
                       "for a message read in its conversation its standalone reading (`resolved`, "
                       "`refers_to`, `context_act`); and the products in focus from the conversation's "
                       "dialogue state (`focus`).")
@requires(Role.STAFF)
async def conversation(request: web.Request) -> web.Response:
    """The whole transcript of one conversation, with the bot's context and the products in focus."""
    conversation_id = request.match_info["conversation_id"]
    await request.config_dict[SINK].flushed()
    turns = await asyncio.to_thread(request.config_dict[TRANSCRIPTS].conversation, conversation_id)
    handoffs = [h for h in await request.config_dict[DESK].list(None) if h.conversation_id == conversation_id]
    slots = await request.config_dict[MEMORY].get(conversation_id)
    return web.json_response({
        "conversation_id": conversation_id,
        "handoffs": [h.to_json() for h in handoffs],
        "turns": [t.to_console() for t in turns],
        "focus": focus(slots, request.config_dict[KNOWLEDGE].product_by_code),
    })


def focus(slots: Slots, catalogue: Mapping[str, Product]) -> dict[str, Any]:
    """The product in focus and the cards shown last, named and priced from the catalogue."""

    def product(code: str) -> dict[str, Any]:
        found = catalogue.get(code)
        return {"stock_code": code, "name": found.name if found else None,
                "price": found.price if found else None}

    return {"product": product(slots.last_product) if slots.last_product else None,
            "shown": [product(code) for code in slots.shown_products]}


@operation("Live updates (WebSocket)", tags=TAGS,
           description="Events: handoff_created, handoff_updated, message, typing. Send "
                       '{"type": "typing", "conversation_id", "typing": bool} to show typing.')
@requires(Role.STAFF)
async def live(request: web.Request) -> web.WebSocketResponse:
    """A console's WebSocket: server events out, staff typing in."""
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    desk = request.config_dict[DESK]
    desk.hub.add(ws)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await _console_event(desk, msg.data)
    finally:
        desk.hub.discard(ws)
    return ws


async def _console_event(desk: Any, data: str) -> None:
    import json

    try:
        event = json.loads(data)
    except ValueError:
        return
    if isinstance(event, dict) and event.get("type") == "typing":
        conversation_id = event.get("conversation_id")
        if isinstance(conversation_id, str) and conversation_id:
            await desk.staff_typing(conversation_id, bool(event.get("typing")))


# Under /api/handoffs: the queue, its live feed, and each handoff's claim, messages and resolve.
HANDOFF_ROUTES = (
    web.get("", list_handoffs),
    web.get("/live", live),
    web.post(f"/{{id:{HANDOFF_ID}}}/claim", claim),
    web.post(f"/{{id:{HANDOFF_ID}}}/messages", send_message),
    web.post(f"/{{id:{HANDOFF_ID}}}/resolve", resolve),
)
# Under /api/conversations: one conversation's transcript for the console.
CONVERSATION_ROUTES = (web.get(f"/{{conversation_id:{CONVERSATION_ID}}}", conversation),)
