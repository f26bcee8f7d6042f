"""Security headers on every response: no framing, no MIME sniffing, no referrer to other sites.

Pages get their own Content-Security-Policy from ``bot.web.static`` (scripts and styles from the
server itself only); everything else (JSON, metrics, assets) gets one that allows nothing, which
matters only if a browser is ever tricked into rendering it as a document.
"""

from __future__ import annotations

from aiohttp import web

# `same-origin`, not `no-referrer`: with no-referrer a browser sends `Origin: null` on the consoles'
# own POSTs, and the auth middleware's same-origin check would refuse them.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
NOTHING_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def page_csp(inline_hashes: tuple[str, ...] = ()) -> str:
    """A page's policy: everything from this server only, never framed; ``inline_hashes``
    (``'sha256-…'`` sources) allow exactly those inline blocks of a page that has some."""
    inline = "".join(f" {h}" for h in inline_hashes)
    return (
        "default-src 'self'; "
        f"script-src 'self'{inline}; style-src 'self'{inline}; "
        # Product pictures may come from the shop's own image host.
        "img-src 'self' data: https:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: every response of the app and its sub-apps, errors included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Content-Security-Policy", NOTHING_CSP)
