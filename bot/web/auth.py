"""Sign-in and role checks for everything under ``/api/``: deny unless declared.

Runs inside ``error_middleware``, which turns the errors raised here into JSON.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.auth.guard import required_roles
from bot.auth.sessions import Session, SessionStore
from bot.auth.users import User, UserStore
from bot.web.keys import AUTH_CONFIG, SESSION, SESSIONS, USER, USERS
from core.errors import Forbidden, Unauthorized

API_PREFIX = "/api/"
LOGIN_PATH = "/api/auth/login"
# Need a session but no particular role: signing out, "who am I", the API description.
ANY_SESSION_PATHS = frozenset({"/api/auth/logout", "/api/auth/me", "/api/openapi.json"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def route_path(request: web.Request) -> str:
    """The path template of the matched route (``""`` when nothing matched)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else ""


def resolve(users: UserStore, sessions: SessionStore, token: str) -> tuple[User, Session] | None:
    """The user and session of a cookie token; None when expired, unknown or disabled.

    Blocking (two queries); run it in a worker thread.
    """
    session = sessions.lookup(token)
    if session is None:
        return None
    account = users.get(session.username)
    if account is None or account.disabled:
        sessions.revoke(session.token_sha256)
        return None
    return User(account.username, account.role), session


async def authenticate(request: web.Request) -> tuple[User, Session] | None:
    """The signed-in user of ``request``'s session cookie, or None (usable outside /api/ too)."""
    app = request.config_dict
    token = request.cookies.get(app[AUTH_CONFIG].cookie_name)
    if not token:
        return None
    return await asyncio.to_thread(resolve, app[USERS], app[SESSIONS], token)


def current_user(request: web.Request) -> User:
    """The user the middleware signed in for this ``/api/`` request."""
    return request[USER]


def _same_origin(request: web.Request, allowed: str = "") -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if origin.rstrip("/").lower() in {o.strip().rstrip("/").lower() for o in allowed.split(",") if o.strip()}:
        return True
    netloc = urlsplit(origin).netloc.lower()
    # X-Forwarded-Host cannot be set cross-origin without a CORS preflight we never grant.
    hosts = {request.host.lower(), request.headers.get("X-Forwarded-Host", "").lower()}
    return bool(netloc) and netloc in hosts


def _websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def _check_role(request: web.Request, user: User) -> None:
    path = route_path(request)
    if path in ANY_SESSION_PATHS:
        return
    roles = required_roles(request.match_info.handler)
    if roles is None:
        raise Forbidden("this endpoint declares no roles, so it is closed")
    if user.role not in roles:
        raise Forbidden(f"the {user.role} role may not use this endpoint")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Require a session and a declared role on ``/api/`` (except the login itself)."""
    path = route_path(request)
    if not (request.path.startswith(API_PREFIX) or path.startswith(API_PREFIX)):
        return await handler(request)
    if request.method not in SAFE_METHODS and not _same_origin(request):
        raise Forbidden("cross-origin request refused")
    # A WebSocket is a GET that browsers send cookies with from any page: check where it is from.
    if _websocket(request) and not _same_origin(request, request.config_dict[AUTH_CONFIG].console_origins):
        raise Forbidden("cross-origin WebSocket refused")
    if path == LOGIN_PATH:
        return await handler(request)
    signed_in = await authenticate(request)
    if signed_in is None:
        raise Unauthorized("sign in first")
    request[USER], request[SESSION] = signed_in
    if request.match_info.http_exception is None:
        _check_role(request, signed_in[0])
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("Cache-Control", "no-store")
    return response
