"""The pages and assets under ``web/``: the shopper's widget, the staff console, the review console."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from aiohttp import web

PAGES = {"/": "index.html", "/staff": "staff.html", "/review": "review.html"}
ASSETS = ("widget.js", "widget.css", "staff.js", "staff.css", "console.css", "review.js", "review.css")
# The socket.io client the widget loads (vendored, so no CDN is needed).
VENDOR = ("socket.io.min.js",)
# The widget's scripts and styles are embedded on the shop's own pages, on any origin.
_SHARED = {"Access-Control-Allow-Origin": "*"}


async def _file(path: Path, headers: dict[str, str], request: web.Request) -> web.FileResponse:
    if not path.exists():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers=headers)


def add_routes(app: web.Application, web_dir: Path) -> None:
    """Serve each page and asset by its fixed name (nothing else under ``web/`` is reachable)."""
    for route, name in PAGES.items():
        app.router.add_get(route, partial(_file, web_dir / name, {} if route == "/" else _SHARED))
    for name in ASSETS:
        app.router.add_get(f"/{name}", partial(_file, web_dir / name, _SHARED))
    for name in VENDOR:
        app.router.add_get(f"/vendor/{name}", partial(_file, web_dir / "vendor" / name,
                                                      {**_SHARED, "Cache-Control": "public, max-age=3600"}))
