"""The kernel's cleanup contexts: Redis, the database (every table created once), the accounts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import MetaData

from bot.auth.config import AuthConfig
from bot.auth.ratelimit import LoginLimiter, backoff
from bot.auth.sessions import SessionStore
from bot.auth.users import UserStore
from bot.limits import RedisOutage, window
from bot.web.keys import AUTH_CONFIG, ENGINE, LOGIN_LIMITER, REDIS, REDIS_OUTAGE, SESSIONS, SETTINGS, USERS
from core.db import create_tables, make_engine

Ctx = Callable[[web.Application], AsyncIterator[None]]


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    """One Redis client for memory, locks, limits and live events (only with SHOPBOT_REDIS_URL)."""
    url = app[SETTINGS].redis_url
    if not url:
        yield
        return
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # Short timeouts and one retry: Redis being away must cost a turn milliseconds, not seconds
    # (the stores then use the worker's own memory, bot/limits.py RedisOutage).
    client = aioredis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0,
                               retry=Retry(NoBackoff(), 1))
    app[REDIS] = client
    app[REDIS_OUTAGE] = RedisOutage("Redis")
    yield
    await client.aclose()


def db_ctx(tables: Sequence[MetaData]) -> Ctx:
    """One engine and pool for the whole application, with ``tables`` created before anyone reads."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine = make_engine(app[SETTINGS].resolved_database_url())
        await asyncio.to_thread(create_tables, engine, tables)
        app[ENGINE] = engine
        yield
        engine.dispose()

    return ctx


def login_limiter(
    config: AuthConfig, redis: Any | None = None, outage: RedisOutage | None = None,
) -> LoginLimiter:
    """The per-address and per-username-and-address login limits (in Redis when given)."""
    return LoginLimiter(
        window(redis, "login-ip", config.login_ip_limit, config.login_ip_window_s, outage=outage),
        backoff(redis, "login-account", config.login_user_limit, config.login_backoff_s,
                config.login_user_window_s, outage=outage),
    )


async def auth_ctx(app: web.Application) -> AsyncIterator[None]:
    """The account and session stores (on the app's engine) and the login limiter."""
    config = AuthConfig.from_settings(app[SETTINGS])
    engine = app[ENGINE]
    sessions = SessionStore(engine, config.session_idle_s, config.session_max_s)
    # Expired sessions can never be used again; they only take space.
    await asyncio.to_thread(sessions.purge_expired)
    app[AUTH_CONFIG] = config
    app[USERS] = UserStore(engine)
    app[SESSIONS] = sessions
    app[LOGIN_LIMITER] = login_limiter(config, app.get(REDIS), app.get(REDIS_OUTAGE))
    yield
