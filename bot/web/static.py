"""The pages and assets under ``web/``: the shopper's widget, the staff console, the review console.

Each page is sent with its Content-Security-Policy (``bot.web.headers.page_csp``): the consoles
have no inline script or style at all; a page that still has an inline block (the demo shop's
``index.html``) gets that block's own hash allowed, so nothing injected into it would run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import partial
from pathlib import Path

from aiohttp import web

from bot.web.headers import page_csp

PAGES = {"/": "index.html", "/staff": "staff.html", "/review": "review.html"}
ASSETS = ("widget.js", "widget.css", "staff.js", "staff.css", "console.css", "review.js", "review.css")
# The socket.io client the widget loads (vendored, so no CDN is needed).
VENDOR = ("socket.io.min.js",)
# The widget's scripts and styles are embedded on the shop's own pages, on any origin.
_SHARED = {"Access-Control-Allow-Origin": "*"}
# Inline <script> (without src) and <style> blocks, whose text a CSP hash covers exactly.
_INLINE = re.compile(r"<(script|style)\b(?![^>]*\bsrc\s*=)[^>]*>(.*?)</\1\s*>", re.DOTALL | re.IGNORECASE)


def inline_hashes(html: str) -> tuple[str, ...]:
    """The CSP ``'sha256-…'`` source of each inline script and style block of ``html``."""
    return tuple(
        f"'sha256-{base64.b64encode(hashlib.sha256(m.group(2).encode()).digest()).decode()}'"
        for m in _INLINE.finditer(html)
    )


class _Policies:
    """Each page's policy, worked out again only when the file changes."""

    def __init__(self) -> None:
        self._known: dict[Path, tuple[float, str]] = {}

    def of(self, path: Path) -> str:
        mtime = path.stat().st_mtime
        known = self._known.get(path)
        if known is None or known[0] != mtime:
            known = (mtime, page_csp(inline_hashes(path.read_text(encoding="utf-8"))))
            self._known[path] = known
        return known[1]


async def _file(path: Path, headers: dict[str, str], request: web.Request) -> web.FileResponse:
    if not path.exists():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers=headers)


async def _page(path: Path, policies: _Policies, request: web.Request) -> web.FileResponse:
    if not path.exists():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Security-Policy": policies.of(path)})


def add_routes(app: web.Application, web_dir: Path) -> None:
    """Serve each page and asset by its fixed name (nothing else under ``web/`` is reachable)."""
    policies = _Policies()
    for route, name in PAGES.items():
        app.router.add_get(route, partial(_page, web_dir / name, policies))
    for name in ASSETS:
        app.router.add_get(f"/{name}", partial(_file, web_dir / name, _SHARED))
    for name in VENDOR:
        app.router.add_get(f"/vendor/{name}", partial(_file, web_dir / "vendor" / name,
                                                      {**_SHARED, "Cache-Control": "public, max-age=3600"}))
