"""Typed keys of the shop channels' own objects."""

from __future__ import annotations

from aiohttp import web

from bot.channels.binding import ConversationBinding
from bot.channels.ids import ConversationIds
from bot.channels.socketio import SocketIOChannel

# The shop's pseudonyms of the sender ids channels are given (bot/channels/ids.py).
CONVERSATION_IDS = web.AppKey("conversation_ids", ConversationIds)
# Who may use a conversation (bot/channels/binding.py); the socket.io channel's, shared by REST.
BINDING = web.AppKey("conversation_binding", ConversationBinding)
# The widget's socket.io channel, on the ``/socket.io`` sub-app.
SOCKETIO = web.AppKey("socketio", SocketIOChannel)
