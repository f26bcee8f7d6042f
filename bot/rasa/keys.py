"""The application key of the Rasa project's responder (present only with SHOPBOT_RASA_PROJECT)."""

from __future__ import annotations

from aiohttp import web

from bot.rasa.responder import RasaResponder

RASA: web.AppKey[RasaResponder] = web.AppKey("rasa_responder", RasaResponder)
