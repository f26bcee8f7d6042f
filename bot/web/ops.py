"""What operators call: ``GET /health`` (liveness), ``GET /health/ready`` (readiness) and the
Prometheus scrape at ``GET /metrics``."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from sqlalchemy import text

from bot.web.keys import ENGINE, JOURNAL, METRICS, REDIS, VERSIONS

PROBE_TIMEOUT_S = 2.0


async def health(request: web.Request) -> web.Response:
    """Liveness: the process serves (even while the database is away), plus model versions."""
    versions = request.app.get(VERSIONS)
    return web.json_response({"status": "ok", "versions": dict(versions()) if versions else {}})


async def ready(request: web.Request) -> web.Response:
    """Readiness: the database and Redis answer; the journal's backlog is reported (503 if not)."""
    app = request.app
    database = await _probe(asyncio.to_thread(_select_one, app[ENGINE])) if ENGINE in app else _absent()
    redis = app.get(REDIS)
    cache = await _probe(redis.ping()) if redis is not None else {"ok": True, "configured": False}
    sink = app.get(JOURNAL)
    journal = {"backlog": sink.backlog, "outage_s": round(sink.outage_s, 1)} if sink else {}
    ok = bool(database["ok"] and cache["ok"] and sink is not None)
    body = {"status": "ready" if ok else "unavailable", "database": database, "redis": cache,
            "journal": journal}
    return web.json_response(body, status=200 if ok else 503,
                             headers=None if ok else {"Retry-After": "5"})


def _select_one(engine: Any) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def _probe(check: Any) -> dict[str, Any]:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT_S)
    except Exception as err:  # noqa: BLE001 - any failure means "not ready", reported as such
        return {"ok": False, "error": type(err).__name__}
    return {"ok": True}


def _absent() -> dict[str, Any]:
    return {"ok": False, "error": "not started"}


async def metrics(request: web.Request) -> web.Response:
    """The Prometheus scrape endpoint (text format, or OpenMetrics when asked for)."""
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encoder(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def add_routes(app: web.Application) -> None:
    """Mount the health checks and ``GET /metrics`` (``app[METRICS]`` is set by the kernel)."""
    app.router.add_get("/health", health)
    app.router.add_get("/health/ready", ready)
    app.router.add_get("/metrics", metrics)
