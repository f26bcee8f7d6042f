"""The OpenAPI 3.1 description of ``/api/``, built from the app's router.

Each handler describes itself with ``@operation(...)``; method and path come from the
router and roles from ``@requires``, so the document cannot drift from what is served. Routes
outside ``/api/`` that speak another protocol (Rasa's HTTP API) join it with ``@documented``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from bot.auth.config import AuthConfig
from bot.auth.guard import Role, required_roles
from bot.web.auth import ANY_SESSION_PATHS, API_PREFIX, LOGIN_PATH
from bot.web.keys import AUTH_CONFIG

OPERATION_ATTR = "__shopbot_openapi__"
SCHEME = "session"
ALL_METHODS = ("get", "put", "post", "delete", "patch")
ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
# ``{name}`` or ``{name:regex}``, where the regex may hold ``{m,n}`` counts of its own.
_PATH_PARAM = re.compile(r"\{([^}:]+)(?::((?:[^{}]|\{[^}]*\})*))?\}")

H = TypeVar("H", bound=Callable[..., Any])
Schema = type[BaseModel] | Mapping[str, Any]


@dataclass(frozen=True)
class Operation:
    """What a handler tells the API description about itself."""

    summary: str
    description: str = ""
    request_body: Schema | None = None
    query: type[BaseModel] | None = None
    response: Schema | None = None
    status: int = 200
    responses: Mapping[int, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    # Query parameters written out as OpenAPI parameter objects (besides ``query``).
    parameters: tuple[Mapping[str, Any], ...] = ()
    # False when the request body may be left out (it then means its defaults).
    body_required: bool = True


def operation(
    summary: str,
    *,
    description: str = "",
    request_body: Schema | None = None,
    query: type[BaseModel] | None = None,
    response: Schema | None = None,
    status: int = 200,
    responses: Mapping[int, str] | None = None,
    tags: tuple[str, ...] = (),
    parameters: Sequence[Mapping[str, Any]] = (),
    body_required: bool = True,
) -> Callable[[H], H]:
    """Describe an ``/api/`` handler: bodies as pydantic models (or JSON Schema dicts).

    ``responses`` adds statuses beyond the success one with their descriptions; 400, 401
    and 403 are added where they apply.
    """
    op = Operation(summary, description, request_body, query, response, status, dict(responses or {}), tags,
                   tuple(parameters), body_required)

    def mark(handler: H) -> H:
        setattr(handler, OPERATION_ATTR, op)
        return handler

    return mark


# A handler outside /api/ that speaks another protocol (Rasa's HTTP API) carries its operation
# object as that protocol documents it, and the components (schemas, security schemes) it uses.
FULL_ATTR = "__shopbot_openapi_full__"


def documented(
    operation: Mapping[str, Any], components: Mapping[str, Mapping[str, Any]]
) -> Callable[[H], H]:
    """Describe a handler outside ``/api/`` with its whole OpenAPI operation object."""

    def mark(handler: H) -> H:
        setattr(handler, FULL_ATTR, (operation, components))
        return handler

    return mark


def described(handler: Any) -> Operation | None:
    """The handler's ``@operation``, or None when it has none."""
    return getattr(handler, OPERATION_ATTR, None)


def api_routes(app: web.Application) -> list[tuple[str, str, Any]]:
    """``(method, path template, handler)`` of every ``/api/`` route, HEAD left out."""
    found = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or not resource.canonical.startswith(API_PREFIX) or route.method == "HEAD":
            continue
        found.append((route.method, resource.canonical, route.handler))
    return found


def openapi_path(canonical: str) -> str:
    """An aiohttp path template as OpenAPI writes it: ``{id:\\d+}`` becomes ``{id}``."""
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", canonical)


class _Schemas:
    """Collects pydantic models into ``components.schemas`` and hands out references."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {"Error": ERROR_SCHEMA}

    def ref(self, schema: Schema) -> Mapping[str, Any]:
        if not isinstance(schema, type):
            return schema
        body = schema.model_json_schema(ref_template="#/components/schemas/{model}")
        self.components.update(body.pop("$defs", {}))
        self.components[schema.__name__] = body
        return {"$ref": f"#/components/schemas/{schema.__name__}"}


def _json(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _roles(path: str, handler: Any) -> list[str] | None:
    if path == LOGIN_PATH:
        return None
    if path in ANY_SESSION_PATHS:
        return sorted(str(r) for r in Role)
    return sorted(str(r) for r in required_roles(handler) or ())


def _parameters(path: str, query: type[BaseModel] | None, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", **({"pattern": f"^{pattern}$"} if pattern else {})}}
        for name, pattern in _PATH_PARAM.findall(path)
    ]
    if query is not None:
        body = query.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.components.update(body.pop("$defs", {}))
        props = body.get("properties", {})
        for name, info in query.model_fields.items():
            params.append(
                {"name": name, "in": "query", "required": info.is_required(), "schema": props.get(name, {})}
            )
    return params


def _responses(op: Operation, path: str, roles: list[str] | None, schemas: _Schemas) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": "success"}
    if op.response is not None:
        ok = _json("success", schemas.ref(op.response))
    out: dict[str, Any] = {str(op.status): ok}
    if op.request_body is not None or op.query is not None or op.parameters:
        out["400"] = _json("malformed request", ERROR_REF)
    if op.request_body is not None:
        out["413"] = _json("body over the size limit", ERROR_REF)
    if roles is not None:
        out["401"] = _json("no valid session", ERROR_REF)
        out["403"] = _json("role not allowed, or cross-origin request", ERROR_REF)
    if _PATH_PARAM.search(path):
        out["404"] = _json("no such resource (or a malformed id)", ERROR_REF)
    out["503"] = _json("the database is unavailable; try again after Retry-After seconds", ERROR_REF)
    for status, description in op.responses.items():
        out[str(status)] = _json(description, ERROR_REF)
    return out


def _operation_object(method: str, path: str, handler: Any, schemas: _Schemas) -> dict[str, Any]:
    op = described(handler) or Operation("(undocumented)")
    roles = _roles(path, handler)
    obj: dict[str, Any] = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{method} {path}").strip("_"),
        "summary": op.summary,
        "tags": list(op.tags),
        "responses": _responses(op, path, roles, schemas),
        "security": [] if roles is None else [{SCHEME: roles}],
        "x-shopbot-roles": roles or [],
    }
    if op.description:
        obj["description"] = op.description
    if described(handler) is None:
        obj["x-shopbot-undocumented"] = True
    if params := [*_parameters(path, op.query, schemas), *(dict(p) for p in op.parameters)]:
        obj["parameters"] = params
    if op.request_body is not None:
        body = schemas.ref(op.request_body)
        obj["requestBody"] = {"required": op.body_required,
                              "content": {"application/json": {"schema": body}}}
    return obj


def build_document(
    app: web.Application, *, title: str = "Shopbot API", version: str = "0.1.0"
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every ``/api/`` route registered on ``app``."""
    cookie = (app.get(AUTH_CONFIG) or AuthConfig()).cookie_name
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for method, path, handler in api_routes(app):
        template = openapi_path(path)
        methods = ALL_METHODS if method == "*" else (method.lower(),)
        for name in methods:
            paths.setdefault(template, {})[name] = _operation_object(name, path, handler, schemas)
    schemes: dict[str, Any] = {SCHEME: {"type": "apiKey", "in": "cookie", "name": cookie}}
    for route in app.router.routes():
        full = getattr(route.handler, FULL_ATTR, None)
        if full is None or route.resource is None or route.method == "HEAD":
            continue
        operation, components = full
        paths.setdefault(openapi_path(route.resource.canonical), {})[route.method.lower()] = dict(operation)
        schemas.components.update(components.get("schemas", {}))
        schemes.update(components.get("securitySchemes", {}))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Staff and review API. Sign in with POST /api/auth/login; the session "
            "cookie authenticates everything else. x-shopbot-roles lists the roles allowed.",
        },
        "paths": paths,
        "components": {"securitySchemes": schemes, "schemas": schemas.components},
        "security": [{SCHEME: []}],
    }
