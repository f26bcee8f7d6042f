"""The shop channels: Rasa's REST and socket.io channels, and the widget's thumbs up and down.

Sub-apps: ``/webhooks`` (``rest/webhook``, ``rest/``, ``socketio/``), ``/socket.io`` (the
engine.io endpoint) and ``/feedback``. Every channel hands its messages to the one turn engine.
"""

from __future__ import annotations

from aiohttp import web

from bot.channels import feedback, rest, socketio
from bot.channels.ids import ConversationIds
from bot.channels.keys import BINDING, CONVERSATION_IDS, SOCKETIO
from bot.channels.socketio import SocketIOChannel
from bot.web.kernel import Feature


def create_feature(channel: SocketIOChannel, ids: ConversationIds) -> Feature:
    """The channels' sub-apps; ``channel`` is also the handoff desk's way to the widget."""
    webhooks = web.Application()
    webhooks[CONVERSATION_IDS] = ids
    webhooks[BINDING] = channel.binding
    webhooks.add_routes([
        web.post("/rest/webhook", rest.webhook),
        web.get("/rest/", rest.status),
        web.get("/socketio/", socketio.status),
    ])
    sockets = web.Application()
    sockets[SOCKETIO] = channel
    channel.attach(sockets)
    ratings = web.Application()
    ratings.add_routes([web.post("", feedback.feedback)])
    return {"/webhooks": webhooks, "/socket.io": sockets, "/feedback": ratings}
