"""Signed-in staff for the handoff tests: real accounts in the app's own user store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie

import pytest
from aiohttp.test_utils import TestClient

from bot.appkeys import USERS
from bot.auth.guard import Role

PASSWORD = "a long enough password"
Login = Callable[[str, Role], Awaitable[dict[str, str]]]


@pytest.fixture
def login(client: TestClient) -> Login:
    """Create an account with ``role`` and sign it in; returns the Cookie header to send."""

    async def sign_in(name: str, role: Role) -> dict[str, str]:
        client.app[USERS].add(name, PASSWORD, role)
        resp = await client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert resp.status == 200, await resp.text()
        jar: SimpleCookie = SimpleCookie()
        for header in resp.headers.getall("Set-Cookie", []):
            jar.load(header)
        return {"Cookie": f"shopbot_session={jar['shopbot_session'].value}"}

    return sign_in
