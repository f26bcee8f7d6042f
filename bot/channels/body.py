"""Strict reading of JSON request bodies: size, encoding, syntax and types."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import BadRequest, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request, model: type[M], *, empty: M | None = None) -> M:
    """Parse the body as ``model`` or raise a 400/413 ``BadRequest``.

    ``empty`` is what a request without a body means, where the body is optional.
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        raise PayloadTooLarge(f"body larger than {request.app._client_max_size} bytes") from err
    if not raw:
        if empty is not None:
            return empty
        raise BadRequest("empty body: send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest("body is not valid UTF-8") from err
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadRequest(f"body is not JSON: {err.msg} at position {err.pos}") from err
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}") from err
