"""Strict reading of JSON request bodies: size, encoding, syntax, depth, number size and types."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import BadRequest, PayloadTooLarge

M = TypeVar("M", bound=BaseModel)

MAX_DEPTH = 32
MAX_INT_DIGITS = 20
_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_BRACKET = re.compile(r"[\[\]{}]")


def loads(text: str) -> Any:
    """``json.loads`` for untrusted input: at most ``MAX_DEPTH`` levels of nesting, integers of at
    most ``MAX_INT_DIGITS`` digits, no NaN or Infinity; anything else is a ``BadRequest``."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            raise BadRequest(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_int=_int, parse_constant=_constant)
    except json.JSONDecodeError as err:
        raise BadRequest(f"body is not JSON: {err.msg} at position {err.pos}") from err
    except (ValueError, RecursionError) as err:
        raise BadRequest(f"body is not acceptable JSON: {err}") from err


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"integer longer than {MAX_INT_DIGITS} digits")
    return int(text)


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# The event a refused socket.io packet becomes, so that its sender still gets an answer.
REFUSED_EVENT = "shopbot_refused"


class SafeJson:
    """The ``json`` module's interface with :func:`loads`' limits (for python-socketio).

    A packet's JSON that is refused (too deep, a huge number, not JSON) decodes to the event
    ``[REFUSED_EVENT, reason]`` instead of an exception: the packet's acknowledgement id lives
    outside the JSON, so the sender gets an error acknowledgement and the connection stays up.
    """

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        """Parse untrusted JSON; a refused document becomes the refused event."""
        try:
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            if not text.lstrip().startswith(("[", "{")):
                # Engine.IO tries every text payload as JSON and keeps the text on ValueError, as
                # with the json module: the WebSocket upgrade's "probe" must stay "probe". Socket.IO
                # payloads are always an array or an object.
                raise ValueError("not a JSON array or object")
            return loads(text)
        except (BadRequest, UnicodeDecodeError) as err:
            return [REFUSED_EVENT, str(err)]

    dumps = staticmethod(json.dumps)


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
    data = loads(text)
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest(f"{where}: {first['msg']}") from err
