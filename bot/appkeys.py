"""Typed keys of the objects the application shares (one place for all of them)."""

from __future__ import annotations

from aiohttp import web

from actions.runner import ActionRunner
from bot.auth.keys import AUTH_CONFIG, LOGIN_LIMITER, SESSION, SESSIONS, USER, USERS
from bot.dialogue.memory import ConversationMemory
from bot.dialogue.pipeline import TurnPipeline
from bot.generation.service import GenerationService
from bot.handoff.keys import DESK
from bot.inference import BatchingEncoder, BatchingRouter
from bot.settings import Settings
from monitoring.sink import TurnLogSink
from retrieval.knowledge_base import KnowledgeBase

SETTINGS = web.AppKey("settings", Settings)
ENCODER = web.AppKey("encoder", BatchingEncoder)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
ROUTER = web.AppKey("router", BatchingRouter)
GENERATION = web.AppKey("generation", GenerationService)
ACTIONS = web.AppKey("actions", ActionRunner)
SINK = web.AppKey("sink", TurnLogSink)
MEMORY = web.AppKey("memory", ConversationMemory)
PIPELINE = web.AppKey("pipeline", TurnPipeline)

__all__ = [
    "SETTINGS", "ENCODER", "KNOWLEDGE", "ROUTER", "GENERATION", "ACTIONS", "SINK", "MEMORY",
    "PIPELINE", "AUTH_CONFIG", "USERS", "SESSIONS", "LOGIN_LIMITER", "USER", "SESSION", "DESK",
]
