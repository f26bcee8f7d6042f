"""Serving with guarded connections: slow clients are cut off, one address cannot hold them all.

aiohttp waits for a request head and body as long as bytes keep coming, and only its keep-alive
timer (75 s) ever closes a connection that trickles a head one byte at a time: a few hundred such
clients (slowloris) hold every socket of a worker. Each connection is therefore wrapped in a
:class:`GuardedConnection`, which

- closes it when a request head is not complete within ``header_timeout_s`` of the connection
  opening, or of the first byte of the next request on a kept-alive connection;
- answers 408 and closes it when a request body is not complete within ``body_timeout_s`` of
  its head (a handler reading the body gets ``HTTPRequestTimeout``, mapped by the one error
  middleware);
- refuses a connection, with a 503, while its socket peer already holds
  ``max_connections_per_address`` of them. The socket peer, not ``X-Forwarded-For``: a trusted
  proxy (``SHOPBOT_TRUSTED_PROXIES``) carries many shoppers and is exempt; it enforces the
  per-shopper cap itself (deploy/haproxy/haproxy.cfg).

The deadlines cover reading a request only: a handler that runs long (a socket.io long-poll), an
open WebSocket and an idle kept-alive connection (aiohttp's ``keepalive_timeout``) are not limited.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import signal
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from core.ratelog import RateLimitedLog

log = logging.getLogger(__name__)

# What ``web.run_app`` uses: an idle kept-alive connection is closed after this long.
KEEPALIVE_TIMEOUT_S = 75.0
SHUTDOWN_TIMEOUT_S = 60.0
# After a 408 the handler has this long to answer before the connection is closed regardless.
_ANSWER_GRACE_S = 2.0
# A body the server itself stopped reading (its handler is busy) is checked again this often.
_RECHECK_S = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    """Deadlines for reading a request and the cap on connections per address; 0 turns one off."""

    header_timeout_s: float
    body_timeout_s: float
    max_per_address: int
    # Socket peers exempt from the cap: the trusted reverse proxies.
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def __post_init__(self) -> None:
        if self.header_timeout_s < 0 or self.body_timeout_s < 0 or self.max_per_address < 0:
            raise ValueError("connection limits must not be negative (0 turns one off)")


def _refusal(retry_after_s: int) -> bytes:
    body = json.dumps({"error": {"code": "too_many_connections",
                                 "message": "too many open connections from your address"}}).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {retry_after_s}\r\nConnection: close\r\n\r\n")
    return head.encode("ascii") + body


class ConnectionGuard:
    """What the connections of one listening server share: the limits and the count per address."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._open: Counter[str] = Counter()
        self.log = RateLimitedLog(log, 60.0)

    def admit(self, address: str | None) -> bool:
        """Count a new connection from ``address``; False (not counted) when it is over the cap."""
        if address is None or not self.limits.max_per_address or self._exempt(address):
            return True
        if self._open[address] >= self.limits.max_per_address:
            # The address itself is personal data: it is not logged.
            self.log.warning("connection cap", "refused a connection: %d already open from its address "
                             "(SHOPBOT_MAX_CONNECTIONS_PER_ADDRESS)", self._open[address])
            return False
        self._open[address] += 1
        return True

    def release(self, address: str | None) -> None:
        """Forget a connection :meth:`admit` counted."""
        if address is None or address not in self._open:
            return
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]

    def open_from(self, address: str) -> int:
        """Connections counted for ``address`` now."""
        return self._open.get(address, 0)

    def _exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.limits.exempt)


class GuardedConnection(asyncio.Protocol):
    """aiohttp's ``RequestHandler`` for one connection, with the read deadlines and the cap.

    It reads the handler's parser state: ``_request_count`` (heads parsed so far) and ``_waiter``
    (pending while the handler waits for the next request: aiohttp's own notion of idle, as in
    its keep-alive timer). tests/bot/test_slow_clients.py fails if a new aiohttp changes them.
    """

    def __init__(self, handler: RequestHandler, guard: ConnectionGuard) -> None:
        self._handler = handler
        self._guard = guard
        self._loop = asyncio.get_running_loop()
        self._address: str | None = None
        self._counted = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._grace_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._address = peer[0] if isinstance(peer, tuple) and peer else None
        if not self._guard.admit(self._address):
            assert isinstance(transport, asyncio.Transport)
            transport.write(_refusal(retry_after_s=5))
            # Half-close and keep reading (into nothing) for a moment: closing with the client's
            # request still unread would reset the connection and lose the 503 on its way.
            if transport.can_write_eof():
                transport.write_eof()
            self._grace_timer = self._loop.call_later(_ANSWER_GRACE_S, transport.close)
            return
        self._counted = True
        self._handler.connection_made(transport)
        self._arm_head()

    def data_received(self, data: bytes) -> None:
        if not self._counted:
            return
        handler = self._handler
        before = handler._request_count
        idle = self._idle()
        handler.data_received(data)
        parsed = handler._request_count - before
        if parsed > 0:
            self._cancel_head()
            # HTTP/1.1 parses the next head only once the previous body is complete: only the
            # last request parsed can still be waiting for body bytes.
            _message, payload = handler._messages[-1] if handler._messages else (None, None)
            if payload is not None and not payload.is_eof():
                self._arm_body(payload)
        elif data and idle and self._head_timer is None:
            self._arm_head()  # the first bytes of the next request on a kept-alive connection

    def eof_received(self) -> None:
        # None, as aiohttp's handler: the transport closes once the client has closed its side.
        if self._counted:
            self._handler.eof_received()

    def pause_writing(self) -> None:
        if self._counted:
            self._handler.pause_writing()

    def resume_writing(self) -> None:
        if self._counted:
            self._handler.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        for timer in (self._head_timer, self._body_timer, self._grace_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = self._grace_timer = None
        if self._counted:
            self._counted = False
            self._guard.release(self._address)
            self._handler.connection_lost(exc)

    # -- the deadlines ---------------------------------------------------------------------------

    def _idle(self) -> bool:
        waiter = self._handler._waiter
        return waiter is not None and not waiter.done()

    def _arm_head(self) -> None:
        timeout = self._guard.limits.header_timeout_s
        if timeout:
            self._head_timer = self._loop.call_later(timeout, self._head_due)

    def _cancel_head(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_due(self) -> None:
        self._head_timer = None
        # Still waiting for a request: the head begun then was never completed (or, on a new
        # connection, never sent). A handler at work is not idle and is left alone.
        if self._counted and self._idle():
            self._guard.log.warning("slow head", "closed a connection whose request head was not "
                                    "complete within %.0f s", self._guard.limits.header_timeout_s)
            self._handler.force_close()

    def _arm_body(self, payload: Any) -> None:
        timeout = self._guard.limits.body_timeout_s
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self._loop.call_later(timeout, self._body_due, payload) if timeout else None

    def _body_due(self, payload: Any) -> None:
        self._body_timer = None
        handler = self._handler
        if not self._counted or payload.is_eof():
            return
        if handler._reading_paused:
            # The handler has not read what it was sent: the server is slow, not the client.
            self._body_timer = self._loop.call_later(_RECHECK_S, self._body_due, payload)
            return
        if not handler._request_in_progress:
            # Answered already, and aiohttp is discarding the rest of the body: just close.
            handler.force_close()
            return
        self._guard.log.warning("slow body", "answered 408 to a request whose body was not complete "
                                "within %.0f s", self._guard.limits.body_timeout_s)
        # The handler reading the body gets a 408 to answer with; no more bytes are read, and
        # the connection closes after that answer (or after a short grace if none comes).
        payload.set_exception(web.HTTPRequestTimeout(text="request body not received in time"))
        # Ended too, so that aiohttp does not wait for (and read) the rest after the answer.
        payload.feed_eof()
        handler.close()
        self._grace_timer = self._loop.call_later(_ANSWER_GRACE_S, handler.force_close)


class GuardedSite(web.BaseSite):
    """``web.TCPSite`` whose connections are :class:`GuardedConnection`."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, guard: ConnectionGuard, *,
                 reuse_port: bool = False, backlog: int = 128,
                 shutdown_timeout: float = SHUTDOWN_TIMEOUT_S) -> None:
        super().__init__(runner, shutdown_timeout=shutdown_timeout, backlog=backlog)
        self._app_runner = runner
        self._host = host
        self._port = port
        self._guard = guard
        self._reuse_port = reuse_port
        self._bound_port = port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._bound_port}"

    @property
    def port(self) -> int:
        """The bound port (the one chosen by the kernel when asked for 0)."""
        return self._bound_port

    async def start(self) -> None:
        """Listen; every accepted connection is guarded."""
        await super().start()
        server = self._app_runner.server
        assert server is not None, "start the runner (setup) before its site"
        guard = self._guard

        def connection() -> GuardedConnection:
            return GuardedConnection(server(), guard)

        listening = await asyncio.get_running_loop().create_server(
            connection, self._host, self._port, backlog=self._backlog, reuse_port=self._reuse_port)
        self._server = listening
        if listening.sockets:
            self._bound_port = int(listening.sockets[0].getsockname()[1])


async def start(app: web.Application, host: str, port: int, limits: ConnectionLimits, *,
                reuse_port: bool = False) -> tuple[web.AppRunner, GuardedSite]:
    """Start ``app`` (its startup and cleanup contexts) listening on ``host:port``."""
    runner = web.AppRunner(app, keepalive_timeout=KEEPALIVE_TIMEOUT_S, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port, ConnectionGuard(limits), reuse_port=reuse_port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site


def serve(app: web.Application, host: str, port: int, limits: ConnectionLimits, *,
          reuse_port: bool = False) -> None:
    """``web.run_app`` with guarded connections: serve until SIGTERM or SIGINT, then shut down."""
    asyncio.run(_serve(app, host, port, limits, reuse_port))


async def _serve(app: web.Application, host: str, port: int, limits: ConnectionLimits,
                 reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # A supervised worker ignores SIGINT (the supervisor forwards SIGTERM): keep it ignored.
        if signal.getsignal(signum) is not signal.SIG_IGN:
            loop.add_signal_handler(signum, stop.set)
    runner, _site = await start(app, host, port, limits, reuse_port=reuse_port)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


__all__ = ["ConnectionGuard", "ConnectionLimits", "GuardedConnection", "GuardedSite", "serve", "start"]
