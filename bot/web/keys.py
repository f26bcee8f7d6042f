"""Typed keys of what the kernel holds on the root application, and on each ``/api/`` request.

Features read them through ``request.config_dict`` (their sub-app first, then the root).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy.engine import Engine

from bot.auth.config import AuthConfig
from bot.auth.ratelimit import LoginLimiter
from bot.auth.sessions import Session, SessionStore
from bot.auth.users import User, UserStore
from bot.limits import RedisOutage
from core.settings import Settings
from monitoring.metrics import ShopbotMetrics


class JournalState(Protocol):
    """What readiness reports of the turn log's journal (``monitoring.sink.TurnLogSink``)."""

    @property
    def backlog(self) -> int: ...

    @property
    def outage_s(self) -> float: ...

    @property
    def refusing(self) -> str | None: ...


SETTINGS = web.AppKey("settings", Settings)
# On each feature sub-app: the root application it is mounted on (``bot.web.kernel.shared``).
ROOT = web.AppKey("root", web.Application)
METRICS = web.AppKey("metrics", ShopbotMetrics)
# One engine and pool for every store.
ENGINE = web.AppKey("engine", Engine)
# The shared Redis client, present only when SHOPBOT_REDIS_URL is set.
REDIS: web.AppKey[Any] = web.AppKey("redis")
# With REDIS: the one outage tracker its stores share, so an outage is noticed and logged once.
REDIS_OUTAGE = web.AppKey("redis_outage", RedisOutage)
# The key conversation state is encrypted with in the database (bot/engine/state_backup.py).
STATE_KEY = web.AppKey("state_key", bytes)
# The client's address as the server is configured to see it (bot/web/clients.py).
CLIENT_IP: web.AppKey[Callable[[web.Request], str]] = web.AppKey("client_ip")
AUTH_CONFIG = web.AppKey("auth_config", AuthConfig)
USERS = web.AppKey("auth_users", UserStore)
SESSIONS = web.AppKey("auth_sessions", SessionStore)
LOGIN_LIMITER = web.AppKey("auth_login_limiter", LoginLimiter)
# Set by the serving contexts for /health and /health/ready: the model versions answering
# now, and the turn log's journal.
VERSIONS: web.AppKey[Callable[[], Mapping[str, str]]] = web.AppKey("versions")
JOURNAL: web.AppKey[JournalState] = web.AppKey("journal")
# Set by ``auth_middleware`` on every /api/ request past the login.
USER = web.RequestKey("user", User)
SESSION = web.RequestKey("session", Session)
