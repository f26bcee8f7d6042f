"""Frames no client may send on the socket.io endpoint: refused quietly, logged rate-limited.

A fuzzer (or a broken client) sends garbage at every layer: WebSocket frames that are no
engine.io packet, long-polling bodies that do not decode, socket.io packets that are no event,
and events under socket.io's reserved names (``connect``, ``disconnect``), which python-socketio
would dispatch to the connect and disconnect handlers like any other. Each is refused without a
traceback; the log gets one line per cause per interval, with a count (core/ratelog.py).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import sys
from typing import Any

import socketio
from engineio import packet
from engineio.async_drivers.aiohttp import WebSocket

from bot.web.body import REFUSED_EVENT
from core.ratelog import RateLimitedLog

# Event names socket.io keeps for itself.
RESERVED_EVENTS = frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener",
                             "removeListener"})
# Session ids and other variable parts, so that a log line's cause is its kind, not its client.
_VARIABLE = re.compile(r"[0-9A-Za-z_-]{16,}|\d+")


def event_refusal(data: Any) -> tuple[str, str] | None:
    """``(cause, reason)`` when an incoming event packet may not be dispatched; None when it may."""
    if not isinstance(data, list) or not data or not isinstance(data[0], str):
        return "not an event", "an event is a JSON array whose first item is the event's name"
    if data[0] in RESERVED_EVENTS:
        return "reserved event", f"the event name {data[0]!r} is reserved"
    return None


def engineio_refusal(frame: str | bytes) -> str | None:
    """Why a WebSocket frame is no engine.io packet (python-engineio would raise on it)."""
    if isinstance(frame, bytes):
        return None
    if not frame:
        return "empty frame"
    if frame[0] == "b":
        try:
            base64.b64decode(frame[1:])
        except (binascii.Error, ValueError):
            return "bad base64 frame"
        return None
    if frame[0] not in "0123456789":
        return "unknown packet type"
    return None


class GuardedServer(socketio.AsyncServer):
    """python-socketio's server, refusing what no client may send and dropping malformed frames.

    A refused event becomes ``REFUSED_EVENT`` (its sender gets an error back, as for refused
    JSON); a packet that does not decode is dropped; engine.io's own complaints (a long-polling
    body that does not decode) go through the same rate limit, without their tracebacks.
    """

    def __init__(self, refusals: RateLimitedLog, **kwargs: Any) -> None:
        super().__init__(engineio_logger=QuietLog(refusals), **kwargs)
        self._refusals = refusals
        # python-engineio has no option for its WebSocket wrapper; its driver table is per server.
        websocket = self.eio._async["websocket"]  # noqa: SLF001 - see above
        if websocket is WebSocket:
            self.eio._async = {**self.eio._async, "websocket": _guarded_websocket(refusals)}  # noqa: SLF001

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: int | None, data: Any) -> None:
        refusal = event_refusal(data)
        if refusal is not None:
            cause, reason = refusal
            self._refusals.warning(f"socket.io {cause}", "socket.io event refused: %s", cause)
            data = [REFUSED_EVENT, reason]
        await super()._handle_event(eio_sid, namespace, id, data)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        await super()._handle_eio_disconnect(eio_sid, reason)
        # A long-polling client that posted its close still has a poll pending, which python-engineio
        # answers only at the ping timeout (up to 45 s): a connection held for nobody, and a server
        # stopping waits on it. Answered now with a close packet, as the reference server does.
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None and not socket.upgraded and reason == self.eio.reason.CLIENT_DISCONNECT:
            socket.queue.put_nowait(packet.Packet(packet.CLOSE))

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as err:  # noqa: BLE001 - a client's garbage is not the server's error
            cause = type(err).__name__
            self._refusals.warning(f"socket.io malformed {cause}",
                                   "malformed socket.io packet dropped (%s)", cause)


def _guarded_websocket(refusals: RateLimitedLog) -> type[WebSocket]:
    class GuardedWebSocket(WebSocket):
        """engine.io's aiohttp WebSocket, skipping frames that are no engine.io packet (python-
        engineio decodes them outside its error handling: each would end the connection with a
        traceback)."""

        async def wait(self) -> str | bytes:
            while True:
                frame: str | bytes = await super().wait()
                cause = engineio_refusal(frame)
                if cause is None:
                    return frame
                refusals.warning(f"engine.io {cause}", "engine.io frame dropped: %s", cause)

    return GuardedWebSocket


class QuietLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """python-engineio's logger: its warnings and errors rate-limited, no tracebacks, no chatter.

    Its errors are about what clients sent (a body that does not decode, an unknown session),
    so one line per kind per interval says enough; its per-packet INFO lines are dropped.
    """

    def __init__(self, refusals: RateLimitedLog) -> None:
        super().__init__(logging.getLogger("engineio.server"), {})
        self._refusals = refusals

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Warnings and errors through the rate limit; anything below is dropped."""
        if level < logging.WARNING:
            return
        text = str(msg) % args if args else str(msg)
        failure = sys.exc_info()[0] if kwargs.get("exc_info") else None
        if failure is not None:
            text = f"{text} ({failure.__name__})"
        # Client-sent parts (a session id) are masked; what is left is escaped onto one line.
        kind = _VARIABLE.sub("…", text)[:120].encode("unicode_escape").decode("ascii")
        self._refusals.log(min(level, logging.WARNING), f"engine.io {kind}", "engine.io: %s", kind)
