"""Typed app key of the handoff desk (re-exported by ``bot.appkeys``)."""

from __future__ import annotations

from aiohttp import web

from bot.handoff.desk import HandoffDesk

DESK = web.AppKey("handoff_desk", HandoffDesk)
