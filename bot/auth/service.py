"""The auth cleanup context: stores on the application's database, limits in memory or Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot.appkeys import ENGINE, REDIS, SETTINGS
from bot.auth.config import AuthConfig
from bot.auth.keys import AUTH_CONFIG, LOGIN_LIMITER, SESSIONS, USERS
from bot.auth.ratelimit import LoginLimiter
from bot.auth.sessions import SessionStore
from bot.auth.users import UserStore
from bot.limits import window


def login_limiter(config: AuthConfig, redis: Any | None = None) -> LoginLimiter:
    """The per-address and per-username-and-address login limits (in Redis when given)."""
    return LoginLimiter(
        window(redis, "login-ip", config.login_ip_limit, config.login_ip_window_s),
        window(redis, "login-account", config.login_user_limit, config.login_user_window_s),
    )


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """Share the account and session stores (on the app's engine) and the login limiter."""
    config = AuthConfig.from_settings(app[SETTINGS])
    engine = app[ENGINE]
    sessions = SessionStore(engine, config.session_idle_s, config.session_max_s)
    # Expired sessions can never be used again; they only take space.
    await asyncio.to_thread(sessions.purge_expired)
    app[AUTH_CONFIG] = config
    app[USERS] = UserStore(engine)
    app[SESSIONS] = sessions
    app[LOGIN_LIMITER] = login_limiter(config, app.get(REDIS))
    yield
