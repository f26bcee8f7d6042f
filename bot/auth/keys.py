"""Typed keys of the auth objects on the application and on each ``/api/`` request."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from bot.auth.config import AuthConfig
from bot.auth.ratelimit import LoginLimiter
from bot.auth.sessions import Session, SessionStore
from bot.auth.users import User, UserStore

AUTH_CONFIG = web.AppKey("auth_config", AuthConfig)
USERS = web.AppKey("auth_users", UserStore)
SESSIONS = web.AppKey("auth_sessions", SessionStore)
LOGIN_LIMITER = web.AppKey("auth_login_limiter", LoginLimiter)
# The client's address as the server is configured to see it (bot/clients.py).
CLIENT_IP: web.AppKey[Callable[[web.Request], str]] = web.AppKey("client_ip")

# Set by ``auth_middleware`` on every /api/ request past the login.
USER = web.RequestKey("user", User)
SESSION = web.RequestKey("session", Session)
