"""``/api/auth/login``, ``/api/auth/logout``, ``/api/auth/me`` and ``/api/openapi.json``."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from bot.auth.config import AuthConfig
from bot.auth.guard import Role
from bot.auth.sessions import token_hash
from bot.auth.users import MAX_PASSWORD_CHARS, User
from bot.web.auth import LOGIN_PATH
from bot.web.body import read_json
from bot.web.keys import AUTH_CONFIG, CLIENT_IP, LOGIN_LIMITER, SESSION, SESSIONS, USER, USERS
from bot.web.openapi import build_document, operation
from core.errors import TooManyRequests, Unauthorized

log = logging.getLogger(__name__)

TAGS = ("auth",)


class LoginBody(BaseModel):
    """``{"username", "password"}``; nothing else."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class Me(BaseModel):
    """The signed-in account."""

    username: str
    role: Role


class Ok(BaseModel):
    """A plain acknowledgement."""

    ok: bool


def _me(user: User) -> dict[str, Any]:
    return {"username": user.username, "role": str(user.role)}


def _cookie_flags(config: AuthConfig) -> dict[str, Any]:
    return {"path": "/", "secure": config.cookie_secure, "httponly": True, "samesite": "Strict"}


@operation(
    "Sign in",
    description="Checks the password and sets the session cookie (HttpOnly, SameSite=Strict).",
    request_body=LoginBody,
    response=Me,
    responses={401: "wrong username or password", 429: "too many failed attempts; see Retry-After"},
    tags=TAGS,
)
async def login(request: web.Request) -> web.Response:
    """Start a session when the password is right; rate-limited per address and username."""
    body = await read_json(request, LoginBody)
    app = request.app
    config = app[AUTH_CONFIG]
    ip = app[CLIENT_IP](request)
    limiter = app[LOGIN_LIMITER]
    try:
        await limiter.check(ip, body.username)
    except TooManyRequests:
        log.warning("login rate limit hit from %s", ip)
        raise
    user = await asyncio.to_thread(app[USERS].verify, body.username, body.password)
    if user is None:
        await limiter.failed(ip, body.username)
        log.info("failed login from %s", ip)
        raise Unauthorized("wrong username or password")
    await limiter.succeeded(ip, body.username)
    sessions = app[SESSIONS]
    if old := request.cookies.get(config.cookie_name):
        await asyncio.to_thread(sessions.revoke, token_hash(old))
    issued = await asyncio.to_thread(sessions.issue, user.username)
    log.info("%s signed in as %s", user.username, user.role)
    response = web.json_response(_me(user))
    response.set_cookie(
        config.cookie_name, issued.token, max_age=int(config.session_max_s), **_cookie_flags(config)
    )
    return response


@operation("Sign out", description="Ends this session and clears the cookie.", response=Ok, tags=TAGS)
async def logout(request: web.Request) -> web.Response:
    """End the current session."""
    config = request.app[AUTH_CONFIG]
    await asyncio.to_thread(request.app[SESSIONS].revoke, request[SESSION].token_sha256)
    response = web.json_response({"ok": True})
    response.del_cookie(config.cookie_name, **_cookie_flags(config))
    return response


@operation("Who am I", response=Me, tags=TAGS)
async def me(request: web.Request) -> web.Response:
    """The signed-in account's username and role."""
    return web.json_response(_me(request[USER]))


@operation(
    "This API's description",
    description="OpenAPI 3.1; x-shopbot-roles on each operation lists the roles allowed.",
    response={"type": "object", "description": "an OpenAPI 3.1 document"},
    tags=("meta",),
)
async def openapi_json(request: web.Request) -> web.Response:
    """The OpenAPI document of every ``/api/`` route."""
    return web.json_response(build_document(request.app))


def add_routes(app: web.Application) -> None:
    """Mount sign-in, sign-out, who-am-I and the API description."""
    app.router.add_post(LOGIN_PATH, login)
    app.router.add_post("/api/auth/logout", logout)
    app.router.add_get("/api/auth/me", me)
    app.router.add_get("/api/openapi.json", openapi_json)
