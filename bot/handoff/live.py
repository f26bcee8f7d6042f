"""Live updates for the staff console over WebSockets: new handoffs, messages, typing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSCloseCode, web

log = logging.getLogger(__name__)


class LiveHub:
    """Fans events out to every connected staff console of this worker."""

    def __init__(self) -> None:
        self._sockets: set[web.WebSocketResponse] = set()

    @property
    def connected(self) -> int:
        """Number of open console connections."""
        return len(self._sockets)

    def add(self, ws: web.WebSocketResponse) -> None:
        """Start sending events to ``ws``."""
        self._sockets.add(ws)

    def discard(self, ws: web.WebSocketResponse) -> None:
        """Stop sending events to ``ws``."""
        self._sockets.discard(ws)

    async def broadcast(self, event: dict[str, Any]) -> None:
        """Send one JSON event to every console; a dead connection is dropped, not fatal."""
        sockets = [ws for ws in self._sockets if not ws.closed]
        results = await asyncio.gather(*(ws.send_json(event) for ws in sockets), return_exceptions=True)
        for ws, result in zip(sockets, results, strict=True):
            if isinstance(result, Exception):
                log.debug("dropping a console connection: %s", result)
                self._sockets.discard(ws)

    async def close(self) -> None:
        """Close every connection (server shutdown)."""
        for ws in list(self._sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
        self._sockets.clear()
