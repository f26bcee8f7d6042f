"""Thumbs up/down from the widget, stored with the turn they rate."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import BaseModel, Field

from bot.serving.turnlog import SINK
from bot.web.body import read_json
from bot.web.keys import METRICS


class Feedback(BaseModel):
    """``{"conversation_id", "turn_id", "value": "up"|"down"}``."""

    conversation_id: str = Field(min_length=1, max_length=128)
    turn_id: str = Field(min_length=1, max_length=64)
    value: Literal["up", "down"]


async def feedback(request: web.Request) -> web.Response:
    """Store feedback; 404 when the turn is not (yet) in this conversation's log."""
    body = await read_json(request, Feedback)
    sink = request.config_dict[SINK]
    await sink.flushed()
    score = 1 if body.value == "up" else -1
    found = await sink.run_sync(sink.turn_log.set_feedback, body.conversation_id, body.turn_id, score)
    if not found:
        raise web.HTTPNotFound(reason="Unknown turn")
    request.config_dict[METRICS].observe_feedback(body.value)
    return web.json_response({"ok": True})


