"""Rasa's REST channel: ``POST /webhooks/rest/webhook`` and ``GET /webhooks/rest/``."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from bot.channels.inbound import clean_message, clean_metadata
from bot.channels.keys import CONVERSATION_IDS
from bot.engine.interfaces import TurnInput
from bot.serving.engine import PIPELINE
from bot.web.body import read_json
from bot.web.keys import CLIENT_IP, SETTINGS

TURN_ID_HEADER = "X-Shopbot-Turn-Id"


class RestMessage(BaseModel):
    """Request body of Rasa's REST channel."""

    sender: str = Field(min_length=1, max_length=128)
    message: str
    metadata: dict[str, Any] | None = None


async def webhook(request: web.Request) -> web.Response:
    """Answer one message with a list of bot messages."""
    body = await read_json(request, RestMessage)
    app = request.config_dict
    text = clean_message(body.message, app[SETTINGS].max_message_chars)
    conversation = app[CONVERSATION_IDS].internal(body.sender)
    metadata = clean_metadata(body.metadata)
    turn = TurnInput(conversation, text, "rest", metadata, client=app[CLIENT_IP](request))
    result = await app[PIPELINE].run(turn)
    payload = [m.to_rest(body.sender) for m in result.messages]
    return web.json_response(payload, headers={TURN_ID_HEADER: result.turn_id})


async def status(request: web.Request) -> web.Response:
    """Channel health, as Rasa answers it."""
    return web.json_response({"status": "ok"})

