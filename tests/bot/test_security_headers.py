"""Security headers on every response of the web kernel: pages, assets, the API, errors."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from bot.web.headers import NOTHING_CSP, SECURITY_HEADERS
from bot.web.static import PAGES, inline_hashes
from core.settings import REPO_ROOT
from tests.bot.auth.conftest import accounts_db, api_client, make_settings  # noqa: F401

CONSOLES = ("staff.html", "review.html")


def directives(policy: str) -> dict[str, str]:
    return {d.split()[0]: d.partition(" ")[2] for d in (part.strip() for part in policy.split(";")) if d}


def assert_secured(headers: Any) -> dict[str, str]:
    for name, value in SECURITY_HEADERS.items():
        assert headers[name] == value, name
    policy = directives(headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == "'none'"
    return policy


async def test_every_page_asset_api_answer_and_error_is_secured(api_client: Any) -> None:  # noqa: F811
    client: TestClient = await api_client()
    for path in ("/staff", "/review", "/"):
        resp = await client.get(path)
        assert resp.status == 200 and resp.content_type == "text/html"
        policy = assert_secured(resp.headers)
        assert policy["script-src"].startswith("'self'") and policy["object-src"] == "'none'"
        assert "unsafe" not in resp.headers["Content-Security-Policy"]
    for path, status in (("/staff.js", 200), ("/api/auth/me", 401), ("/api/nowhere", 401), ("/nowhere", 404)):
        resp = await client.get(path)
        assert resp.status == status, path
        assert_secured(resp.headers)
        if path != "/staff.js":
            assert resp.headers["Content-Security-Policy"] == NOTHING_CSP
    bad = await client.post("/api/auth/login", data=b"{not json",
                            headers={"Content-Type": "application/json"})
    assert bad.status == 400
    assert_secured(bad.headers)


async def test_consoles_allow_no_inline_code_and_the_demo_page_only_its_own(api_client: Any) -> None:  # noqa: F811
    client: TestClient = await api_client()
    for route, name in PAGES.items():
        html = (REPO_ROOT / "web" / name).read_text(encoding="utf-8")
        policy = directives((await client.get(route)).headers["Content-Security-Policy"])
        allowed = set(policy["script-src"].split()[1:])
        assert allowed == set(inline_hashes(html)), name
        if name in CONSOLES:
            assert not allowed, f"{name} has inline code"
            # No inline event handlers or javascript: URLs, which no hash can allow.
            assert not re.search(r"\son[a-z]+\s*=|javascript:|\sstyle\s*=", html, re.IGNORECASE), name


def test_inline_blocks_are_hashed_exactly() -> None:
    html = '<script src="/a.js"></script><script>alert(1)</script><STYLE media="x">b{}</style>'
    # The hashes of "alert(1)" and "b{}" (as `openssl dgst -sha256 -binary | base64` gives them).
    assert inline_hashes(html) == (
        "'sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI='",
        "'sha256-7yqHVAesot11p6HczDsgKRipvI5UPgs97z80zNXlans='",
    )
