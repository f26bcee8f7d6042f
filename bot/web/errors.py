"""Maps the error hierarchy (and aiohttp's own HTTP errors) to JSON responses."""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.web.keys import METRICS
from core import errors

log = logging.getLogger(__name__)

# The one mapping from the error hierarchy to HTTP; the most specific class listed wins.
STATUS: dict[type[errors.ShopbotError], int] = {
    errors.PayloadTooLarge: 413,
    errors.Conflict: 409,
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.TooManyRequests: 429,
    errors.NotReady: 503,
    errors.Unavailable: 503,
}


def http_status(err: errors.ShopbotError) -> int:
    """The HTTP status of an error: its nearest listed class, else 500."""
    for cls in type(err).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def http_headers(err: errors.ShopbotError) -> dict[str, str]:
    """Headers an error calls for: ``Retry-After`` when the client should come back later."""
    retry_after = getattr(err, "retry_after", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else {}


def error_body(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The one JSON error shape: ``{"error": {"code", "message"}}``."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


# How an error is written: (status, code, message, headers) -> response.
ErrorBody = Callable[[int, str, str, dict[str, str] | None], web.Response]
# A feature whose clients expect another error shape (Rasa's HTTP API) sets its own on its sub-apps.
ERROR_BODY: web.AppKey[ErrorBody] = web.AppKey("error_body")


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a JSON error; never leak a traceback to the client."""
    # The innermost sub-app's own shape, if it has one (this middleware runs as the root's).
    apps = reversed(request.match_info.apps)
    body = next((app[ERROR_BODY] for app in apps if ERROR_BODY in app), error_body)
    try:
        return await handler(request)
    except errors.ShopbotError as err:
        status = http_status(err)
        if status >= 500:
            log.warning("%s %s failed: %s", request.method, request.path, err.code)
            _count_error(request, err.code)
        return body(status, err.code, str(err), http_headers(err))
    except web.HTTPException as err:
        if err.status < 400 or err.status == 101:
            raise
        return body(err.status, err.reason.lower().replace(" ", "_"), err.reason, None)
    except Exception:  # noqa: BLE001 - last line of defence, logged with its traceback
        log.exception("unhandled error on %s %s", request.method, request.path)
        _count_error(request, "internal_error")
        return body(500, "internal_error", "internal error", None)


def _count_error(request: web.Request, code: str) -> None:
    metrics = request.config_dict.get(METRICS)
    if metrics is not None:
        metrics.observe_error(code)


CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-Shopbot-Conversation-Token",
    "Access-Control-Expose-Headers": "X-Shopbot-Turn-Id, X-Shopbot-Conversation-Token",
    "Access-Control-Max-Age": "600",
}
# The widget is embedded on the shop's own pages, so these answer any origin; they carry no
# cookies (the staff and review APIs do not get CORS headers).
CORS_PREFIXES = ("/webhooks/", "/feedback", "/widget.")


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS for the shopper-facing endpoints only."""
    public = request.path.startswith(CORS_PREFIXES)
    if public and request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS_HEADERS)
    response = await handler(request)
    if public:
        response.headers.update(CORS_HEADERS)
    return response
