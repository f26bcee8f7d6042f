"""Typed keys of the objects the application shares (one place for all of them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.engine import Engine

from actions.runner import ActionRunner
from bot.auth.keys import AUTH_CONFIG, CLIENT_IP, LOGIN_LIMITER, SESSION, SESSIONS, USER, USERS
from bot.channels.ids import ConversationIds
from bot.dialogue.corrections import LiveCorrections
from bot.dialogue.memory import ConversationMemory
from bot.dialogue.pipeline import TurnPipeline
from bot.generation.service import GenerationService
from bot.handoff.desk import HandoffDesk
from bot.inference import BatchingEncoder, BatchingUnderstanding
from bot.lifecycle.live import LiveModel
from bot.lifecycle.registry import ModelKind, ModelRegistry
from bot.lifecycle.service import ModelLifecycle
from bot.rasa.keys import RASA
from bot.review.store import ReviewStore
from bot.transcripts import Transcripts
from core.settings import Settings
from monitoring.metrics import ShopbotMetrics
from monitoring.records import RecordFactory
from monitoring.sink import TurnLogSink
from retrieval.knowledge_base import KnowledgeBase

if TYPE_CHECKING:
    from bot.channels.socketio import SocketIOChannel

SETTINGS = web.AppKey("settings", Settings)
# The shared Redis client, present only when SHOPBOT_REDIS_URL is set.
REDIS: web.AppKey[Any] = web.AppKey("redis")
METRICS = web.AppKey("metrics", ShopbotMetrics)
ENGINE = web.AppKey("engine", Engine)
ENCODER = web.AppKey("encoder", BatchingEncoder)
KNOWLEDGE = web.AppKey("knowledge", KnowledgeBase)
# A message's decision, embedding and nearest knowledge: one pass, one search (bot/inference.py).
UNDERSTANDING = web.AppKey("understanding", BatchingUnderstanding)
GENERATION = web.AppKey("generation", GenerationService)
ACTIONS = web.AppKey("actions", ActionRunner)
SINK = web.AppKey("sink", TurnLogSink)
RECORDS = web.AppKey("records", RecordFactory)
TRANSCRIPTS = web.AppKey("transcripts", Transcripts)
REVIEW_STORE = web.AppKey("review_store", ReviewStore)
CORRECTIONS = web.AppKey("corrections", LiveCorrections)
DESK = web.AppKey("handoff_desk", HandoffDesk)
MEMORY = web.AppKey("memory", ConversationMemory)
PIPELINE = web.AppKey("pipeline", TurnPipeline)
# Typed by annotation only: the channel module reads keys from here at import time.
SOCKETIO: web.AppKey[SocketIOChannel] = web.AppKey("socketio")
CONVERSATION_IDS = web.AppKey("conversation_ids", ConversationIds)
# The model lifecycle (bot/lifecycle): registered versions, the followers of the live versions,
# and the operations behind /api/models.
REGISTRY = web.AppKey("registry", ModelRegistry)
LIVE_MODELS: web.AppKey[dict[ModelKind, LiveModel[Any]]] = web.AppKey("live_models")
LIFECYCLE = web.AppKey("lifecycle", ModelLifecycle)

__all__ = [
    "SETTINGS", "METRICS", "ENGINE", "ENCODER", "KNOWLEDGE", "UNDERSTANDING", "GENERATION", "ACTIONS", "SINK",
    "RECORDS", "TRANSCRIPTS", "REVIEW_STORE", "CORRECTIONS", "DESK", "MEMORY", "PIPELINE", "SOCKETIO",
    "CONVERSATION_IDS", "REGISTRY", "LIVE_MODELS", "LIFECYCLE",
    "REDIS", "AUTH_CONFIG", "USERS", "SESSIONS", "LOGIN_LIMITER", "CLIENT_IP", "USER", "SESSION", "RASA",
]
