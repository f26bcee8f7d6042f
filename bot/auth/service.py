"""The auth cleanup context: stores on the turn-log database, limiter in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from bot.appkeys import SETTINGS
from bot.auth.config import AuthConfig
from bot.auth.keys import AUTH_CONFIG, LOGIN_LIMITER, SESSIONS, USERS
from bot.auth.ratelimit import LoginLimiter, SlidingWindow
from bot.auth.sessions import SessionStore
from bot.auth.users import UserStore
from monitoring.turnlog import make_engine


def login_limiter(config: AuthConfig) -> LoginLimiter:
    """The per-address and per-username login limits of ``config``."""
    return LoginLimiter(
        SlidingWindow(config.login_ip_limit, config.login_ip_window_s),
        SlidingWindow(config.login_user_limit, config.login_user_window_s),
    )


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """Create the ``users`` and ``sessions`` tables if missing and share the stores."""
    settings = app[SETTINGS]
    config = AuthConfig.from_settings(settings)
    engine = make_engine(settings.resolved_database_url())
    users = UserStore(engine)
    sessions = SessionStore(engine, config.session_idle_s, config.session_max_s)
    await asyncio.to_thread(users.create)
    await asyncio.to_thread(sessions.create)
    app[AUTH_CONFIG] = config
    app[USERS] = users
    app[SESSIONS] = sessions
    app[LOGIN_LIMITER] = login_limiter(config)
    yield
    engine.dispose()
