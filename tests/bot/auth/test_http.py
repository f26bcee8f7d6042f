"""Login, logout, who-am-I and the role checks, over HTTP through the real middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from multidict import CIMultiDictProxy

from bot.web.keys import USERS
from harness.redis_server import redis_server
from tests.bot.auth.conftest import PASSWORDS

COOKIE = "shopbot_session"
Start = Callable[..., Awaitable[TestClient]]


def _morsel(headers: CIMultiDictProxy[str]) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


def creds(name: str) -> dict[str, str]:
    return {"username": name, "password": PASSWORDS[name]}


async def login(client: TestClient, name: str) -> str:
    """Sign in and return the session token from Set-Cookie."""
    resp = await client.post("/api/auth/login", json=creds(name))
    assert resp.status == 200, await resp.text()
    return _morsel(resp.headers)[COOKIE].value


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


async def error_code(resp: ClientResponse) -> str:
    return str((await resp.json())["error"]["code"])


async def test_login_sets_a_strict_http_only_cookie(api_client: Start) -> None:
    client = await api_client()
    resp = await client.post("/api/auth/login", json={"username": "Alice", "password": PASSWORDS["alice"]})
    assert resp.status == 200
    assert await resp.json() == {"username": "alice", "role": "staff"}
    raw = resp.headers["Set-Cookie"]
    morsel = _morsel(resp.headers)[COOKIE]
    assert morsel["httponly"] and morsel["secure"]
    assert morsel["samesite"] == "Strict" and morsel["path"] == "/"
    assert morsel["max-age"] == "43200"
    assert len(morsel.value) >= 40 and morsel.value not in await resp.text()
    assert "Secure" in raw and "HttpOnly" in raw


async def test_secure_flag_can_be_turned_off(api_client: Start) -> None:
    client = await api_client(auth_cookie_secure=False, auth_cookie_name="dev_session")
    resp = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORDS["alice"]})
    morsel = _morsel(resp.headers)["dev_session"]
    assert not morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Strict"
    me = await client.get("/api/auth/me", headers={"Cookie": f"dev_session={morsel.value}"})
    assert me.status == 200


async def test_me_then_logout_ends_the_session(api_client: Start) -> None:
    client = await api_client()
    token = await login(client, "otto")
    me = await client.get("/api/auth/me", headers=cookie(token))
    assert me.status == 200 and await me.json() == {"username": "otto", "role": "auditor"}
    assert me.headers["Cache-Control"] == "no-store"
    out = await client.post("/api/auth/logout", headers=cookie(token))
    assert out.status == 200 and await out.json() == {"ok": True}
    cleared = _morsel(out.headers)[COOKIE]
    assert cleared.value == "" and cleared["max-age"] == "0"
    again = await client.get("/api/auth/me", headers=cookie(token))
    assert again.status == 401 and await error_code(again) == "unauthorized"
    assert (await client.post("/api/auth/logout", headers=cookie(token))).status == 401


@pytest.mark.parametrize(
    "path", ["/api/auth/me", "/api/staff-only", "/api/openapi.json", "/api/undeclared", "/api/nope"]
)
async def test_every_api_path_needs_a_session(api_client: Start, path: str) -> None:
    client = await api_client()
    for headers in ({}, cookie("not-a-real-token"), cookie("")):
        resp = await client.get(path, headers=headers)
        assert resp.status == 401, (path, headers)
        assert await error_code(resp) == "unauthorized"


async def test_roles_decide_after_sign_in(api_client: Start) -> None:
    client = await api_client()
    staff, admin, auditor = [await login(client, n) for n in ("alice", "ada", "otto")]
    assert (await client.get("/api/staff-only", headers=cookie(staff))).status == 200
    assert (await client.get("/api/staff-only", headers=cookie(admin))).status == 200
    denied = await client.get("/api/staff-only", headers=cookie(auditor))
    assert denied.status == 403 and await error_code(denied) == "forbidden"
    for token in (staff, admin, auditor):
        closed = await client.get("/api/undeclared", headers=cookie(token))
        assert closed.status == 403, "no @requires means nobody"
        assert (await client.get("/api/auth/me", headers=cookie(token))).status == 200
    missing = await client.get("/api/nope", headers=cookie(admin))
    assert missing.status == 404 and await error_code(missing) == "not_found"


async def test_paths_outside_api_are_untouched(api_client: Start) -> None:
    client = await api_client()
    resp = await client.get("/public")
    assert resp.status == 200 and "Cache-Control" not in resp.headers


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("alice", "wrong-password-123"),
        ("nobody", "whatever-password"),
        ("dora", PASSWORDS["dora"]),
        ("!!", "x"),
    ],
)
async def test_bad_credentials_get_one_answer(api_client: Start, name: str, password: str) -> None:
    client = await api_client()
    resp = await client.post("/api/auth/login", json={"username": name, "password": password})
    assert resp.status == 401
    assert (await resp.json())["error"] == {"code": "unauthorized", "message": "wrong username or password"}
    assert "Set-Cookie" not in resp.headers


async def test_disabling_an_account_ends_its_sessions(api_client: Start) -> None:
    client = await api_client()
    token = await login(client, "alice")
    assert client.app is not None
    assert client.app[USERS].set_disabled("alice", True)
    assert (await client.get("/api/auth/me", headers=cookie(token))).status == 401


async def test_signing_in_again_drops_the_old_session(api_client: Start) -> None:
    client = await api_client()
    old = await login(client, "alice")
    resp = await client.post(
        "/api/auth/login", json={"username": "alice", "password": PASSWORDS["alice"]}, headers=cookie(old)
    )
    new = _morsel(resp.headers)[COOKIE].value
    assert new != old
    assert (await client.get("/api/auth/me", headers=cookie(old))).status == 401
    assert (await client.get("/api/auth/me", headers=cookie(new))).status == 200


async def test_sessions_are_shared_between_workers(api_client: Start) -> None:
    first, second = await api_client(), await api_client()
    token = await login(first, "ada")
    resp = await second.get("/api/auth/me", headers=cookie(token))
    assert resp.status == 200 and (await resp.json())["username"] == "ada"


async def test_cross_origin_writes_are_refused(api_client: Start) -> None:
    client = await api_client()
    body = {"username": "alice", "password": PASSWORDS["alice"]}
    evil = await client.post("/api/auth/login", json=body, headers={"Origin": "https://evil.example"})
    assert evil.status == 403 and await error_code(evil) == "forbidden"
    host = f"{client.host}:{client.port}"
    ok = await client.post("/api/auth/login", json=body, headers={"Origin": f"http://{host}"})
    assert ok.status == 200
    token = _morsel(ok.headers)[COOKIE].value
    out = await client.post("/api/auth/logout", headers={**cookie(token), "Origin": "null"})
    assert out.status == 403
    assert (await client.get("/api/auth/me", headers=cookie(token))).status == 200, "still signed in"


async def test_login_rate_limit_per_username(api_client: Start) -> None:
    # The back-off's first wait at its cap: the blocked sign-in is told the whole window.
    client = await api_client(auth_login_user_limit=2, auth_login_user_window_s=600.0,
                              auth_login_backoff_s=600.0)
    wrong = {"username": "alice", "password": "not-the-password"}
    for _ in range(2):
        assert (await client.post("/api/auth/login", json=wrong)).status == 401
    blocked = await client.post("/api/auth/login", json={"username": "ALICE", "password": PASSWORDS["alice"]})
    assert blocked.status == 429 and await error_code(blocked) == "too_many_requests"
    assert 590 <= int(blocked.headers["Retry-After"]) <= 600
    assert "Set-Cookie" not in blocked.headers, "the right password does not get through"
    assert (await client.post("/api/auth/login", json=creds("ada"))).status == 200


async def test_login_rate_limit_per_address(api_client: Start) -> None:
    client = await api_client(auth_login_ip_limit=3, auth_login_ip_window_s=60.0)
    for name in ("u1", "u2", "u3"):
        assert (await client.post("/api/auth/login", json={"username": name, "password": "p"})).status == 401
    blocked = await client.post("/api/auth/login", json=creds("ada"))
    assert blocked.status == 429 and 1 <= int(blocked.headers["Retry-After"]) <= 60


async def test_a_guesser_cannot_lock_staff_out_from_their_own_address(api_client: Start) -> None:
    # Behind a trusted proxy, each client's own address counts (not the proxy's).
    client = await api_client(auth_login_user_limit=2, trusted_proxies="127.0.0.1")
    attacker = {"X-Forwarded-For": "203.0.113.9"}
    wrong = {"username": "alice", "password": "not-the-password"}
    for _ in range(2):
        assert (await client.post("/api/auth/login", json=wrong, headers=attacker)).status == 401
    blocked = await client.post("/api/auth/login", json=creds("alice"), headers=attacker)
    assert blocked.status == 429
    own = {"X-Forwarded-For": "198.51.100.7"}
    alice = await client.post("/api/auth/login", json=creds("alice"), headers=own)
    assert alice.status == 200, "alice, from her own address, still signs in"


async def test_login_limits_are_shared_through_redis(api_client: Start) -> None:
    with redis_server() as url:
        first = await api_client(auth_login_user_limit=2, redis_url=url)
        second = await api_client(auth_login_user_limit=2, redis_url=url)
        wrong = {"username": "alice", "password": "not-the-password"}
        assert (await first.post("/api/auth/login", json=wrong)).status == 401
        assert (await second.post("/api/auth/login", json=wrong)).status == 401
        assert (await first.post("/api/auth/login", json=creds("alice"))).status == 429, (
            "two workers count one budget")


async def test_a_correct_password_clears_the_username_count(api_client: Start) -> None:
    client = await api_client(auth_login_user_limit=2)
    wrong = {"username": "alice", "password": "not-the-password"}
    assert (await client.post("/api/auth/login", json=wrong)).status == 401
    await login(client, "alice")
    assert (await client.post("/api/auth/login", json=wrong)).status == 401, "not 429: the count restarted"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'"alice"',
        b'{"username": "alice"}',
        b'{"password": "x"}',
        b'{"username": 5, "password": "alice-staff-password"}',
        b'{"username": "alice", "password": ["alice-staff-password"]}',
        b'{"username": "", "password": "alice-staff-password"}',
        b'{"username": "alice", "password": ""}',
        b'{"username": "alice", "password": "alice-staff-password", "role": "admin"}',
        b'{"username": "alice", "password": "\xff\xfe"}',
        b'{"username": "alice", "password": "' + b"x" * 1025 + b'"}',
        b'{"username": "' + b"a" * 65 + b'", "password": "x"}',
    ],
)
async def test_malformed_login_bodies_are_400(api_client: Start, body: bytes) -> None:
    client = await api_client()
    resp = await client.post("/api/auth/login", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "bad_request" and error["message"]
    assert "Set-Cookie" not in resp.headers
