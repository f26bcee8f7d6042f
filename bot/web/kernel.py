"""The web kernel: the root application every feature is mounted on.

The kernel knows HTTP and nothing of a shop: the middleware (CORS for the widget, the one
error mapping, the auth guard), the security headers on every response, the body limit,
sign-in, the OpenAPI document, health and metrics, the static pages, and the resources every
part shares (the database, Redis, the accounts). Features are aiohttp sub-apps
(``add_subapp``) with their own typed keys, cleanup contexts and routes; their handlers read
the root's keys through ``request.config_dict`` and their cleanup contexts through :func:`shared`.
aiohttp mounts a sub-app under one URL prefix, so a feature whose routes live under several
prefixes is one sub-app per prefix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiohttp import ChainMapProxy, web
from sqlalchemy import MetaData

from bot.web import ops, signin, static
from bot.web.auth import auth_middleware
from bot.web.clients import client_ip_of, parse_networks
from bot.web.errors import cors_middleware, error_middleware
from bot.web.headers import add_security_headers
from bot.web.keys import CLIENT_IP, METRICS, ROOT, SETTINGS
from bot.web.resources import auth_ctx, db_ctx, redis_ctx
from core.settings import Settings
from monitoring.metrics import ShopbotMetrics

# A feature: the sub-app answering under each of its URL prefixes.
Feature = Mapping[str, web.Application]


def create_kernel(settings: Settings, metrics: ShopbotMetrics, tables: Sequence[MetaData]) -> web.Application:
    """The root application: middleware, the kernel's resources and its own routes.

    ``tables`` are every table of the application's database, created at start-up before
    anything reads them. The caller appends the shared serving contexts and mounts features.
    """
    app = web.Application(
        middlewares=[cors_middleware, error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[CLIENT_IP] = client_ip_of(parse_networks(settings.trusted_proxies))
    # A response hook, not a middleware: it also reaches responses a middleware never sees
    # (sub-apps' own error pages, WebSocket and socket.io answers).
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.extend([redis_ctx, db_ctx(tables), auth_ctx])
    signin.add_routes(app)
    ops.add_routes(app)
    static.add_routes(app, settings.web_dir)
    return app


def mount(root: web.Application, feature: Feature) -> None:
    """Mount a feature's sub-apps: they start after the root's contexts and close before them.

    aiohttp starts sub-apps after the root's own cleanup contexts but closes them after those
    too, in mounting order: a feature would close after the database and the turn-log writer
    it uses. Each sub-app's cleanup moves to the front instead, so the last mounted closes
    first and the root's own contexts close last.
    """
    for prefix, app in feature.items():
        app[ROOT] = root
        before = len(root.on_cleanup)
        root.add_subapp(prefix, app)
        if len(root.on_cleanup) != before + 1:
            raise RuntimeError("aiohttp changed how sub-apps join the cleanup signal")
        root.on_cleanup.insert(0, root.on_cleanup.pop())


def shared(app: web.Application) -> ChainMapProxy:
    """What a feature's cleanup context may read: its sub-app's keys, then the root's.

    A cleanup context gets its own sub-app; this is the ``request.config_dict`` of its handlers.
    """
    root: web.Application = app[ROOT]
    return ChainMapProxy([app, root])


__all__ = ["Feature", "create_kernel", "mount", "shared"]
