"""Live updates for the staff console over WebSockets: new handoffs, messages, typing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, web

from core.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
# Redis away, these repeat every second (relay) or every event (publish): one line per 30 s.
_outage_log = RateLimitedLog(log, 30.0)


EventListener = Callable[[dict[str, Any]], None]


class LiveHub:
    """Fans events out to every connected staff console of this worker.

    ``on_event`` sees every event this worker delivers, its own and (with Redis) other
    workers' alike: the worker's view of the handoff queue follows them.
    """

    def __init__(self, on_event: EventListener | None = None) -> None:
        self._sockets: set[web.WebSocketResponse] = set()
        self._on_event = on_event

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
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:  # noqa: BLE001 - a listener must not stop the consoles' events
                log.exception("live event listener failed")
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

    def __init__(self, redis: Any, on_event: EventListener | None = None) -> None:
        super().__init__(on_event)
        self._redis = redis
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start relaying every worker's events to this worker's consoles."""
        subscribed = asyncio.Event()
        self._listener = asyncio.create_task(self._relay(subscribed), name="handoff-live-relay")
        await asyncio.wait_for(subscribed.wait(), timeout=10)

    async def _relay(self, subscribed: asyncio.Event) -> None:
        # Redis may go away and come back: subscribe again rather than fall silent.
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self.CHANNEL)
                subscribed.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        event = json.loads(message["data"])
                    except ValueError:
                        log.warning("ignoring a malformed live event")
                        continue
                    await super().broadcast(event)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001 - retried: consoles must get events again
                _outage_log.warning("relay", "live events relay lost Redis (%s); retrying", err)
                await asyncio.sleep(1.0)

    async def broadcast(self, event: dict[str, Any]) -> None:
        """Publish: every worker, this one included, relays it to its consoles.

        With Redis away, this worker's own consoles still get it.
        """
        try:
            await self._redis.publish(self.CHANNEL, json.dumps(event))
        except Exception as err:  # noqa: BLE001 - degrade to this worker's consoles
            _outage_log.warning("publish", "live event not published (%s); delivering to this worker only",
                                err)
            await super().broadcast(event)

    async def close(self) -> None:
        """Stop relaying, close consoles and the Redis connection."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await super().close()
