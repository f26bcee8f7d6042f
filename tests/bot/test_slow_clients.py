"""Slow clients against a real listening server (bot/web/connections.py), over raw sockets.

A head or a body trickled a byte at a time is cut off in time while other clients are served;
one address cannot hold more than its share of connections; long-polls, quiet WebSockets and
idle kept-alive connections are left alone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from bot.web.connections import ConnectionLimits, start
from bot.web.errors import error_middleware

HEAD_S = 1.5
BODY_S = 1.5
SLACK_S = 1.5  # timers, the loop under load


async def ping(_request: web.Request) -> web.Response:
    return web.Response(text="pong")


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


async def poll(_request: web.Request) -> web.Response:
    await asyncio.sleep(HEAD_S + BODY_S + 0.5)  # a socket.io long-poll holds its request for long
    return web.Response(text="event")


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(msg.data)
    return ws


def make_app() -> web.Application:
    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/ping", ping)
    app.router.add_post("/echo", echo)
    app.router.add_get("/poll", poll)
    app.router.add_get("/ws", websocket)
    return app


@asynccontextmanager
async def server(**limits: object) -> AsyncIterator[int]:
    """The app served on a free loopback port with these limits; yields the port."""
    settings: dict[str, object] = {"header_timeout_s": HEAD_S, "body_timeout_s": BODY_S, "max_per_address": 0}
    runner, site = await start(make_app(), "127.0.0.1", 0, ConnectionLimits(**{**settings, **limits}))  # type: ignore[arg-type]
    try:
        yield site.port
    finally:
        await runner.cleanup()


async def connect(port: int, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, trickle: bytes,
                       every_s: float = 0.5) -> tuple[float, bytes]:
    """Send ``trickle`` a byte every ``every_s`` until the server closes; (seconds taken, bytes read)."""
    started = time.monotonic()
    received = b""

    async def read_all() -> None:
        nonlocal received
        while chunk := await reader.read(4096):
            received += chunk

    reading = asyncio.create_task(read_all())
    try:
        for byte in trickle:
            if reading.done():
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.wait([reading], timeout=every_s)
        await asyncio.wait_for(reading, timeout=30)
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - started, received


async def served(port: int, n: int = 5) -> list[int]:
    """``n`` ordinary requests, each on a new connection."""
    statuses = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(n):
            async with session.get(f"http://127.0.0.1:{port}/ping") as resp:
                statuses.append(resp.status)
            await asyncio.sleep(0.2)
    return statuses


SLOW_HEAD = b"GET /ping HTTP/1.1\r\nHost: shop\r\nX-Padding: " + b"a" * 200


async def test_a_trickled_head_is_cut_off_while_others_are_served() -> None:
    async with server() as port:
        reader, writer = await connect(port)
        slow = asyncio.create_task(closed_after(reader, writer, SLOW_HEAD))
        assert await served(port) == [200] * 5
        took, received = await slow
        assert HEAD_S - 0.1 <= took <= HEAD_S + SLACK_S
        assert received == b""  # nothing was asked yet: closed without an answer


async def test_a_connection_that_sends_nothing_is_closed() -> None:
    async with server() as port:
        reader, _writer = await connect(port)
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), timeout=30) == b""
        assert time.monotonic() - started <= HEAD_S + SLACK_S


async def test_the_next_head_on_a_kept_alive_connection_has_the_deadline_too() -> None:
    request = b"GET /ping HTTP/1.1\r\nHost: shop\r\n\r\n"
    async with server() as port:
        reader, writer = await connect(port)
        writer.write(request)
        assert (await reader.readuntil(b"pong")).startswith(b"HTTP/1.1 200")
        # Idle between requests is the keep-alive timeout's business, not the head deadline's.
        await asyncio.sleep(HEAD_S * 2)
        writer.write(request)
        assert (await reader.readuntil(b"pong")).startswith(b"HTTP/1.1 200")
        took, _ = await closed_after(reader, writer, SLOW_HEAD)
        assert HEAD_S - 0.1 <= took <= HEAD_S + SLACK_S


async def test_a_trickled_body_is_answered_408_and_closed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with server() as port:
        reader, writer = await connect(port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n")
        slow = asyncio.create_task(closed_after(reader, writer, b"x" * 100))
        assert await served(port) == [200] * 5
        took, received = await slow
        assert BODY_S - 0.1 <= took <= BODY_S + SLACK_S
        assert received.startswith(b"HTTP/1.1 408 ")
        assert b'"code": "request_timeout"' in received
    # One rate-limited warning; no error or traceback from aiohttp after the answer.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"answered 408 to a request whose body was not complete within {BODY_S:.0f} s"]


async def test_a_body_sent_in_time_is_read_whole() -> None:
    async with server() as port:
        reader, writer = await connect(port)
        writer.write(b"POST /echo HTTP/1.1\r\nHost: shop\r\nContent-Length: 6\r\n\r\nhel")
        await asyncio.sleep(BODY_S / 2)
        writer.write(b"lo!")
        answer = await reader.readuntil(b"hello!")
        assert answer.startswith(b"HTTP/1.1 200")
        writer.close()


async def test_a_long_poll_and_a_quiet_websocket_stay_open() -> None:
    async with server() as port, aiohttp.ClientSession() as session, \
            session.ws_connect(f"http://127.0.0.1:{port}/ws") as ws:
        async with session.get(f"http://127.0.0.1:{port}/poll") as resp:
            assert (resp.status, await resp.text()) == (200, "event")
        await asyncio.sleep(HEAD_S + BODY_S + 3)  # quiet for longer than both deadlines and the grace
        await ws.send_str("still there?")
        assert (await ws.receive(timeout=5)).data == "still there?"


Held = tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]


async def held(port: int, source: str, path: str = "/ping") -> Held:
    """A connection from ``source`` that made one request and stays open (kept alive); its answer's head."""
    reader, writer = await connect(port, source)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: shop\r\n\r\n".encode())
    try:
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    except asyncio.IncompleteReadError as err:
        answer = err.partial
    return reader, writer, answer


async def test_one_address_gets_at_most_its_cap_while_others_are_served() -> None:
    async with server(max_per_address=3) as port:
        mine = [await held(port, "127.0.0.1") for _ in range(3)]
        assert all(answer.startswith(b"HTTP/1.1 200") for _, _, answer in mine)
        reader, writer, answer = await held(port, "127.0.0.1")
        assert answer.startswith(b"HTTP/1.1 503 ") and b"Retry-After: 5" in answer
        assert b"too_many_connections" in await asyncio.wait_for(reader.read(), timeout=5)  # then closed
        writer.close()
        # Another address is not affected.
        others = [await held(port, "127.0.0.2") for _ in range(3)]
        assert all(answer.startswith(b"HTTP/1.1 200") for _, _, answer in others)
        # A closed connection frees its place.
        mine[0][1].close()
        await mine[0][1].wait_closed()
        await asyncio.sleep(0.2)
        _, again, answer = await held(port, "127.0.0.1")
        assert answer.startswith(b"HTTP/1.1 200")
        for _, w, _ in [*mine[1:], *others]:
            w.close()
        again.close()


async def test_a_trusted_proxy_is_not_capped() -> None:
    proxy = (ipaddress.ip_network("127.0.0.3/32"),)
    async with server(max_per_address=2, exempt=proxy) as port:
        through_proxy = [await held(port, "127.0.0.3") for _ in range(5)]
        assert all(answer.startswith(b"HTTP/1.1 200") for _, _, answer in through_proxy)
        for _, w, _ in through_proxy:
            w.close()


def test_negative_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ConnectionLimits(header_timeout_s=-1, body_timeout_s=20, max_per_address=100)


@pytest.mark.parametrize("name", ["_request_count", "_waiter", "_messages", "_reading_paused",
                                  "_request_in_progress"])
def test_aiohttp_still_has_the_handler_state_the_guard_reads(name: str) -> None:
    # GuardedConnection reads these; a new aiohttp without them must fail here, not in production.
    assert any(name in getattr(cls, "__slots__", ()) for cls in RequestHandler.__mro__)

