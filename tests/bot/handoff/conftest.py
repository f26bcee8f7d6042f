"""Signed-in staff for the handoff tests: real accounts in the app's own user store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from tests.signin import sign_in

Login = Callable[[str, Role], Awaitable[dict[str, str]]]


@pytest.fixture
def login(client: TestClient) -> Login:
    """Create an account with ``role`` and sign it in; returns the Cookie header to send."""

    async def signed_in(name: str, role: Role) -> dict[str, str]:
        return await sign_in(client, client.app, name, role)

    return signed_in
