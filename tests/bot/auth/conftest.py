"""An aiohttp app built from the auth pieces, on a database with one account per role."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from bot.auth.guard import Role, requires
from bot.auth.sessions import metadata as sessions
from bot.auth.users import UserStore
from bot.auth.users import metadata as users
from bot.web.kernel import create_kernel
from bot.web.openapi import operation
from core.db import make_engine
from core.settings import Settings
from monitoring.metrics import ShopbotMetrics

PASSWORDS = {
    "alice": "alice-staff-password",
    "ada": "ada-admin-password",
    "otto": "otto-auditor-password",
    "dora": "dora-disabled-password",
}
ROLES = {"alice": Role.STAFF, "ada": Role.ADMIN, "otto": Role.AUDITOR, "dora": Role.STAFF}


class AuthSettings(Settings):
    """Settings with the ``auth_*`` fields the lead adds to ``core.settings.Settings``."""

    auth_cookie_name: str = "shopbot_session"
    auth_cookie_secure: bool = True
    auth_session_idle_s: float = 7200.0
    auth_session_max_s: float = 43200.0
    auth_login_ip_limit: int = 200
    auth_login_ip_window_s: float = 900.0
    auth_login_user_limit: int = 5
    auth_login_user_window_s: float = 900.0
    auth_login_backoff_s: float = 30.0
    auth_console_origins: str = ""


@requires(Role.STAFF)
@operation("Staff only", tags=("test",))
async def staff_only(request: web.Request) -> web.Response:
    """A handler open to staff (and admins)."""
    return web.json_response({"ok": True})


async def undeclared(request: web.Request) -> web.Response:
    """A handler that forgot ``@requires``: closed to everyone."""
    return web.json_response({"ok": True})


async def public(request: web.Request) -> web.Response:
    """Outside /api/: no session needed."""
    return web.json_response({"ok": True})


def make_app(settings: Settings) -> web.Application:
    """The web kernel alone (middleware, sign-in, accounts), plus a few routes to guard."""
    app = create_kernel(settings, ShopbotMetrics(), (users, sessions))
    app.router.add_get("/api/staff-only", staff_only)
    app.router.add_get("/api/undeclared", undeclared)
    app.router.add_get("/public", public)
    return app


@pytest.fixture(scope="session")
def accounts_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with alice (staff), ada (admin), otto (auditor) and dora (disabled), hashed once."""
    path = tmp_path_factory.mktemp("accounts") / "turns.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    store = UserStore(engine, PasswordHasher())
    store.create()
    for name, password in PASSWORDS.items():
        store.add(name, password, ROLES[name])
    store.set_disabled("dora", True)
    engine.dispose()
    return path


@pytest.fixture
def make_settings(accounts_db: Path, tmp_path: Path) -> Callable[..., AuthSettings]:
    """Settings on a fresh copy of the accounts database; keyword arguments override."""
    shutil.copy(accounts_db, tmp_path / "turns.sqlite3")

    def make(**overrides: object) -> AuthSettings:
        return AuthSettings(var_dir=tmp_path, database_url="", **overrides)  # type: ignore[arg-type]

    return make


@pytest.fixture
def api_client(aiohttp_client, make_settings):  # type: ignore[no-untyped-def]
    """Start the test app with some settings overrides; cookies are sent by hand."""

    async def start(**overrides: object) -> TestClient:
        app = make_app(make_settings(**overrides))
        return await aiohttp_client(app, cookie_jar=DummyCookieJar())

    return start
