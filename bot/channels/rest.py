"""Rasa's REST channel: ``POST /webhooks/rest/webhook`` and ``GET /webhooks/rest/``.

Every answer carries the conversation's token in ``X-Shopbot-Conversation-Token``
(bot/channels/binding.py): what its holder shows to read the transcript or join the
conversation live (socket.io). By default posting a message needs only the ``sender``, as in
Rasa's protocol (the sender id is the conversation's key; an answer never carries its history).
With ``SHOPBOT_REST_REQUIRE_CONVERSATION_TOKEN=true`` a POST to a conversation that has begun
must send the token back, or come from the verified customer who spoke in it, else 403.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from bot.channels.binding import TOKEN_HEADER, access
from bot.channels.inbound import clean_message, clean_metadata
from bot.channels.keys import BINDING, CONVERSATION_IDS
from bot.engine.interfaces import TurnInput
from bot.serving.engine import PIPELINE
from bot.web.body import read_json
from bot.web.keys import CLIENT_IP, SETTINGS
from core.errors import Forbidden

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
    if app[SETTINGS].rest_require_conversation_token:
        grant = await access(app, app[BINDING], conversation, request.headers.get(TOKEN_HEADER), metadata)
        if not grant.allowed:
            raise Forbidden(f"this sender's conversation has begun elsewhere: send its {TOKEN_HEADER} "
                            "header (from that conversation's answers) or use a sender of your own")
    turn = TurnInput(conversation, text, "rest", metadata, client=app[CLIENT_IP](request))
    result = await app[PIPELINE].run(turn)
    payload = [m.to_rest(body.sender) for m in result.messages]
    headers = {TURN_ID_HEADER: result.turn_id, TOKEN_HEADER: app[BINDING].token(conversation)}
    return web.json_response(payload, headers=headers)


async def status(request: web.Request) -> web.Response:
    """Channel health, as Rasa answers it."""
    return web.json_response({"status": "ok"})

