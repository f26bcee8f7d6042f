"""Live updates for the staff console over WebSockets: new handoffs, messages, typing."""

from __future__ import annotations

import asyncio
import contextlib
import json
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


class RedisLiveHub(LiveHub):
    """A ``LiveHub`` whose events reach the consoles of every worker, through Redis pub/sub."""

    CHANNEL = "shopbot:handoff-live"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._redis: Any = None
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and start relaying other workers' events to this worker's consoles."""
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(self.url)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.CHANNEL)
        self._listener = asyncio.create_task(self._relay(pubsub), name="handoff-live-relay")

    async def _relay(self, pubsub: Any) -> None:
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            try:
                event = json.loads(message["data"])
            except ValueError:
                log.warning("ignoring a malformed live event")
                continue
            await super().broadcast(event)

    async def broadcast(self, event: dict[str, Any]) -> None:
        """Publish: every worker, this one included, relays it to its consoles."""
        await self._redis.publish(self.CHANNEL, json.dumps(event))

    async def close(self) -> None:
        """Stop relaying, close consoles and the Redis connection."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await super().close()
        if self._redis is not None:
            await self._redis.aclose()
