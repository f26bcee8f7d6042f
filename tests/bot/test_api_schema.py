"""The live OpenAPI document is valid, and schemathesis finds no server error behind it.

Schemathesis generates requests from ``GET /api/openapi.json`` (positive and negative data) and
sends them, signed in as an admin, to a real ``shopbot run``; ``not_a_server_error`` and
``status_code_conformance`` (every answered status is documented) must hold for all of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from harness.server_process import serving
from tests.signin import PASSWORD

pytestmark = pytest.mark.slow

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Logging out would end the run's own session; the login and the WebSocket are tested elsewhere.
EXCLUDED = ("/api/auth/logout", "/api/auth/login", "/api/handoffs/live")


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_ref_resolves_and_every_operation_documents_its_errors(api_document: dict[str, Any]) -> None:
    assert "/conversations/{conversation_id}/trigger_intent" in api_document["paths"], "Rasa's HTTP API"
    schemas = api_document["components"]["schemas"]
    dangling = [r for r in _refs(api_document) if r.removeprefix("#/components/schemas/") not in schemas]
    assert not dangling
    for path, methods in api_document["paths"].items():
        for method, op in methods.items():
            codes = set(op["responses"])
            assert any(c.startswith("2") for c in codes), (method, path)
            if path != "/version":  # Rasa's version, open and static as in Rasa
                assert "503" in codes, (method, path)
            if op["security"]:  # all but the login and /version
                assert {"401", "403"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)


@pytest.fixture(scope="module")
def live(built_var: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("schemathesis")
    with serving(built_var, tmp) as server:
        server.cli("users", "add", "root", "--role", "admin", stdin=PASSWORD + "\n")
        yield server, tmp


@pytest.fixture(scope="module")
def admin_cookie(live: Any) -> str:
    import asyncio

    server, _ = live

    async def login() -> str:
        async with aiohttp.ClientSession() as http, http.post(
            server.base + "/api/auth/login", json={"username": "root", "password": PASSWORD}
        ) as resp:
            assert resp.status == 200
            return f"shopbot_session={resp.cookies['shopbot_session'].value}"

    return asyncio.run(login())


@pytest.fixture(scope="module")
def api_document(live: Any, admin_cookie: str) -> dict[str, Any]:
    import urllib.request

    server, _ = live
    request = urllib.request.Request(server.base + "/api/openapi.json", headers={"Cookie": admin_cookie})
    with urllib.request.urlopen(request, timeout=30) as resp:
        document: dict[str, Any] = json.loads(resp.read())
    return document


def test_schemathesis_finds_no_server_error(
    live: Any, admin_cookie: str, api_document: dict[str, Any]
) -> None:
    server, tmp = live
    schema = tmp / "openapi.json"
    schema.write_text(json.dumps(api_document))
    excluded = [arg for path in EXCLUDED for arg in ("--exclude-path", path)]
    run = subprocess.run(
        [str(SCHEMATHESIS), "run", str(schema), "--url", server.base, "-H", f"Cookie: {admin_cookie}",
         "--checks", "not_a_server_error,status_code_conformance", "--max-examples", "25",
         "--seed", "20261201", "--generation-database", "none", "--no-color", "--workers", "1",
         "--request-timeout", "30", *excluded],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    summary = run.stdout[-3000:]
    assert "passed" in summary.lower() and "server error" not in summary.lower(), summary
