"""Rasa's REST channel: ``POST /webhooks/rest/webhook`` and ``GET /webhooks/rest/``."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from bot.appkeys import CLIENT_IP, CONVERSATION_IDS, PIPELINE, SETTINGS
from bot.channels.body import read_json
from bot.dialogue.pipeline import TurnInput
from core.errors import BadRequest, PayloadTooLarge
from monitoring.redact import scrub

TURN_ID_HEADER = "X-Shopbot-Turn-Id"


class RestMessage(BaseModel):
    """Request body of Rasa's REST channel."""

    sender: str = Field(min_length=1, max_length=128)
    message: str
    metadata: dict[str, Any] | None = None


MAX_METADATA_CHARS = 4000


def clean_message(text: str, max_chars: int) -> str:
    """Validate a shopper message: not blank, not over the limit; NUL and lone surrogates go."""
    text = scrub(text.replace("\x00", "")).strip()
    if not text:
        raise BadRequest("message is empty")
    if len(text) > max_chars:
        raise PayloadTooLarge(f"message longer than {max_chars} characters")
    return text


def clean_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    """Channel metadata: a JSON object of bounded size (depth and numbers are bounded on parse)."""
    if not metadata:
        return {}
    if len(json.dumps(metadata, ensure_ascii=False)) > MAX_METADATA_CHARS:
        raise BadRequest(f"metadata larger than {MAX_METADATA_CHARS} characters")
    return metadata


async def webhook(request: web.Request) -> web.Response:
    """Answer one message with a list of bot messages."""
    body = await read_json(request, RestMessage)
    app = request.app
    text = clean_message(body.message, app[SETTINGS].max_message_chars)
    conversation = app[CONVERSATION_IDS].internal(body.sender)
    metadata = clean_metadata(body.metadata)
    turn = TurnInput(conversation, text, "rest", metadata, client=app[CLIENT_IP](request))
    result = await request.app[PIPELINE].run(turn)
    payload = [m.to_rest(body.sender) for m in result.messages]
    return web.json_response(payload, headers={TURN_ID_HEADER: result.turn_id})


async def status(request: web.Request) -> web.Response:
    """Channel health, as Rasa answers it."""
    return web.json_response({"status": "ok"})


def add_routes(app: web.Application) -> None:
    """Mount the REST channel."""
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_get("/webhooks/rest/", status)
