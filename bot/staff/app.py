"""The staff handoff feature: one sub-app under ``/api/handoffs``, one under ``/api/conversations``.

The queue itself (the handoff desk) is a shared serving resource: the turn engine escalates
to it, and staff work it from here.
"""

from __future__ import annotations

from aiohttp import web

from bot.staff.api import CONVERSATION_ROUTES, HANDOFF_ROUTES
from bot.web.kernel import Feature


def create_feature() -> Feature:
    """The staff console's API."""
    handoffs, conversations = web.Application(), web.Application()
    handoffs.add_routes(HANDOFF_ROUTES)
    conversations.add_routes(CONVERSATION_ROUTES)
    return {"/api/handoffs": handoffs, "/api/conversations": conversations}
