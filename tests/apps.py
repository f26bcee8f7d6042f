"""Finding a feature's sub-app in the composed application (its own keys live there)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_urldispatcher import PrefixedSubAppResource


def feature_app(root: web.Application, prefix: str) -> web.Application:
    """The sub-app mounted under ``prefix`` on ``root``."""
    for resource in root.router.resources():
        if isinstance(resource, PrefixedSubAppResource) and resource.get_info()["prefix"] == prefix:
            app: web.Application = resource.get_info()["app"]
            return app
    raise LookupError(f"no sub-app under {prefix}")
