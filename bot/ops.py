"""What operators call: ``GET /health`` and the Prometheus scrape at ``GET /metrics``."""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder

from bot.appkeys import METRICS, PIPELINE


async def health(request: web.Request) -> web.Response:
    """Liveness plus the versions of the loaded models and indexes."""
    pipeline = request.app.get(PIPELINE)
    return web.json_response({"status": "ok", "versions": pipeline.versions if pipeline else {}})


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus scrape endpoint (text format, or OpenMetrics when asked for)."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    """Mount ``GET /health`` and ``GET /metrics`` (``app[METRICS]`` is set by ``create_app``)."""
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
