"""Sign a real account in through ``POST /api/auth/login`` and keep its session cookie."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from aiohttp import web

from bot.auth.guard import Role
from bot.web.keys import USERS

PASSWORD = "a long enough password"


async def sign_in(
    client: Any, app: web.Application | None, name: str, role: Role, *, create: bool = True
) -> dict[str, str]:
    """Create the account (unless ``create`` is off), sign in; returns the Cookie header to send.

    ``client`` is an aiohttp test client or a ``ClientSession`` with a ``base_url``; ``app`` is
    needed only to create the account.
    """
    if create:
        assert app is not None, "creating the account needs the app"
        app[USERS].add(name, PASSWORD, role)
    resp = await client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    jar: SimpleCookie = SimpleCookie()
    for header in resp.headers.getall("Set-Cookie", []):
        jar.load(header)
    return {"Cookie": f"shopbot_session={jar['shopbot_session'].value}"}
