"""The OpenAPI 3.1 document: every /api/ route, its roles, bodies and the cookie scheme."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import BaseModel

from bot.auth.guard import Role, requires
from bot.web.auth import LOGIN_PATH
from bot.web.openapi import api_routes, build_document, described, openapi_path, operation
from bot.web.signin import add_routes
from core.settings import Settings
from tests.bot.auth.conftest import PASSWORDS


def undocumented(app: web.Application) -> list[str]:
    """``"METHOD /path"`` of each ``/api/`` route without an ``@operation``."""
    return [f"{m} {p}" for m, p, h in api_routes(app) if described(h) is None]

Start = Callable[..., Awaitable[TestClient]]


def documented_pairs(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


async def fetch_document(client: TestClient) -> dict[str, Any]:
    login = await client.post("/api/auth/login", json={"username": "otto", "password": PASSWORDS["otto"]})
    token = login.cookies["shopbot_session"].value
    resp = await client.get("/api/openapi.json", headers={"Cookie": f"shopbot_session={token}"})
    assert resp.status == 200 and resp.content_type == "application/json"
    return dict(await resp.json())


async def test_served_to_any_role_and_lists_every_api_route(api_client: Start) -> None:
    client = await api_client(auth_cookie_secure=False)
    doc = await fetch_document(client)
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    assert client.app is not None
    routes = {(m, openapi_path(p)) for m, p, _ in api_routes(client.app)}
    assert routes == documented_pairs(doc)
    assert ("POST", LOGIN_PATH) in routes and ("GET", "/api/staff-only") in routes
    assert not any(p.startswith("/public") for p in doc["paths"])
    assert undocumented(client.app) == ["GET /api/undeclared"]
    assert doc["paths"]["/api/undeclared"]["get"]["x-shopbot-undocumented"] is True


async def test_security_scheme_and_roles(api_client: Start) -> None:
    client = await api_client(auth_cookie_secure=False)
    doc = await fetch_document(client)
    assert doc["components"]["securitySchemes"] == {
        "session": {"type": "apiKey", "in": "cookie", "name": "shopbot_session"}
    }
    assert doc["security"] == [{"session": []}]
    paths = doc["paths"]
    login = paths[LOGIN_PATH]["post"]
    assert login["security"] == [] and login["x-shopbot-roles"] == []
    assert {"200", "400", "401", "429"} <= set(login["responses"])
    staff = paths["/api/staff-only"]["get"]
    assert staff["x-shopbot-roles"] == ["admin", "staff"]
    assert staff["security"] == [{"session": ["admin", "staff"]}]
    assert {"401", "403"} <= set(staff["responses"])
    everyone = sorted(str(r) for r in Role)
    for path in ("/api/auth/me", "/api/openapi.json"):
        assert paths[path]["get"]["x-shopbot-roles"] == everyone
    assert paths["/api/auth/logout"]["post"]["x-shopbot-roles"] == everyone
    assert paths["/api/undeclared"]["get"]["x-shopbot-roles"] == [], "closed to all"


async def test_bodies_are_json_schemas(api_client: Start) -> None:
    client = await api_client(auth_cookie_secure=False)
    doc = await fetch_document(client)
    schemas = doc["components"]["schemas"]
    login = doc["paths"][LOGIN_PATH]["post"]
    body_ref = login["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    login_body = schemas[body_ref.rsplit("/", 1)[1]]
    assert set(login_body["required"]) == {"username", "password"}
    assert login_body["additionalProperties"] is False
    me_ref = doc["paths"]["/api/auth/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    me = schemas[me_ref["$ref"].rsplit("/", 1)[1]]
    role_ref = me["properties"]["role"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[role_ref]["enum"]) == {"staff", "auditor", "admin"}
    error = login["responses"]["401"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/Error"} and "Error" in schemas
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


class Page(BaseModel):
    """Query string of a listing."""

    limit: int = 20
    q: str


class Item(BaseModel):
    """An item."""

    id: int


@requires(Role.AUDITOR)
@operation("One item", query=Page, response=Item, responses={404: "no such item"}, tags=("items",))
async def get_item(request: web.Request) -> web.Response:
    return web.json_response({"id": int(request.match_info["item_id"])})


def test_path_and_query_parameters_and_any_method() -> None:
    app = web.Application()
    app.router.add_get(r"/api/items/{item_id:\d+}", get_item)
    app.router.add_route("*", "/api/anything", get_item)
    doc = build_document(app)
    op = doc["paths"]["/api/items/{item_id}"]["get"]
    params = {(p["in"], p["name"]): p for p in op["parameters"]}
    assert params[("path", "item_id")]["required"] is True
    assert params[("query", "q")]["required"] is True and params[("query", "limit")]["required"] is False
    assert params[("query", "limit")]["schema"]["type"] == "integer"
    assert op["responses"]["404"]["description"] == "no such item"
    assert op["x-shopbot-roles"] == ["admin", "auditor"]
    assert set(doc["paths"]["/api/anything"]) == {"get", "put", "post", "delete", "patch"}
    assert "head" not in doc["paths"]["/api/items/{item_id}"]
    assert openapi_path(r"/api/a/{x:\d+}/b/{y}") == "/api/a/{x}/b/{y}"


def test_every_api_route_of_the_real_app_is_documented(tmp_path: Path) -> None:
    """``create_app`` plus the auth routes: nothing under /api/ may go undescribed."""
    from bot.server import create_app

    app = create_app(Settings(var_dir=tmp_path))
    if not any(p == LOGIN_PATH for _, p, _ in api_routes(app)):
        add_routes(app)
    doc = build_document(app)
    assert undocumented(app) == []
    assert {(m, openapi_path(p)) for m, p, _ in api_routes(app)} <= documented_pairs(doc)
    assert ("GET", "/api/auth/me") in documented_pairs(doc)

