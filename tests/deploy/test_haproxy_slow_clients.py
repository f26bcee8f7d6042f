"""The shipped HAProxy config cuts slow clients off and caps connections per source address.

A real HAProxy (harness/balancer.py, the shipped deploy/haproxy/haproxy.cfg) in front of a
worker whose own deadlines are set far off, so that whatever is cut off is cut off by the proxy.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from bot.web.connections import ConnectionLimits, start
from harness.balancer import CONFIG, Balancer, haproxy
from tests.bot.test_slow_clients import SLOW_HEAD, closed_after, make_app

TEXT = CONFIG.read_text(encoding="utf-8")
REQUEST_S = float(re.search(r"^\s*timeout http-request (\d+)s$", TEXT, re.M).group(1))  # type: ignore[union-attr]
CAP = int(re.search(r"sc0_conn_cur gt (\d+)", TEXT).group(1))  # type: ignore[union-attr]
SLACK_S = 3.0


async def health(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


@asynccontextmanager
async def balanced() -> AsyncIterator[Balancer]:
    """A worker with its own slow-client deadlines off (an hour) behind the shipped HAProxy."""
    app = make_app()
    app.router.add_get("/health", health)
    runner, site = await start(app, "127.0.0.1", 0, ConnectionLimits(3600, 3600, 0))
    proxy = haproxy([site.port])
    try:
        # haproxy() waits for the proxy synchronously; the worker must answer its checks meanwhile.
        balancer = await asyncio.to_thread(proxy.__enter__)
        try:
            yield balancer
        finally:
            await asyncio.to_thread(proxy.__exit__, None, None, None)
    finally:
        await runner.cleanup()


async def connect(base: str, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(base.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def refused(base: str) -> bool:
    """The connection is reset or closed at once, before it could send a request."""
    try:
        reader, writer = await connect(base)
    except ConnectionError:
        return True  # reset while connecting (loopback: the proxy's RST arrives that early)
    try:
        writer.write(b"GET /ping HTTP/1.1\r\nHost: shop\r\n\r\n")
        # Under load the proxy may take seconds to reach it; its idle peers last REQUEST_S.
        # The first bytes: none (closed) when refused, a response's head when it was let through.
        return await asyncio.wait_for(reader.read(1024), timeout=REQUEST_S - 1) == b""
    except ConnectionError:
        return True
    finally:
        writer.close()


async def until_refused(base: str, tries: int = 5) -> bool:
    """Whether a connection is refused within ``tries`` attempts a second apart."""
    for _ in range(tries):
        if await refused(base):
            return True
        await asyncio.sleep(1.0)
    return False


async def frontend_sessions(stats: str) -> int:
    """The proxy's count of open connections on the shoppers' frontend (its stats CSV, `scur`)."""
    async with aiohttp.ClientSession() as session, session.get(stats + "/stats;csv") as resp:
        lines = (await resp.text()).splitlines()
    columns = lines[0].lstrip("# ").split(",")
    for line in lines[1:]:
        row = dict(zip(columns, line.split(","), strict=False))
        if row.get("pxname") == "shopbot" and row.get("svname") == "FRONTEND":
            return int(row["scur"])
    raise AssertionError("no shopbot frontend in the proxy's stats")


async def accepted(stats: str, n: int, within_s: float = 30.0) -> bool:
    """Whether the proxy has accepted (and counted) ``n`` connections within ``within_s``."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        if await frontend_sessions(stats) >= n:
            return True
        await asyncio.sleep(0.2)
    return False


async def pings(base: str, n: int) -> list[int]:
    statuses = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        for _ in range(n):
            async with session.get(base + "/ping") as resp:
                statuses.append(resp.status)
            await asyncio.sleep(0.5)
    return statuses


async def test_a_trickled_head_and_body_are_cut_off_by_the_proxy() -> None:
    async with balanced() as lb:
        head_reader, head_writer = await connect(lb.base)
        body_reader, body_writer = await connect(lb.base)
        body_writer.write(b"POST /echo HTTP/1.1\r\nHost: shop\r\nContent-Length: 100\r\n\r\n")
        slow_head = asyncio.create_task(closed_after(head_reader, head_writer, SLOW_HEAD, every_s=1.0))
        slow_body = asyncio.create_task(closed_after(body_reader, body_writer, b"x" * 100, every_s=1.0))
        assert await pings(lb.base, 5) == [200] * 5
        for took, received in (await slow_head, await slow_body):
            assert took <= REQUEST_S + SLACK_S
            assert received.startswith(b"HTTP/1.1 408 ")


async def test_one_source_address_gets_at_most_the_cap() -> None:
    async with balanced() as lb:
        # Idle connections: they count until `timeout http-request` closes them, long after this.
        held = [await connect(lb.base) for _ in range(CAP)]
        # The kernel completes a handshake before the proxy accepts it. A probe sent before the
        # proxy has counted every held connection could be counted among the first CAP and a
        # held one refused instead, leaving CAP - 1 held for good (a fresh-clone CI failed so):
        # the probe waits until the proxy has accepted all of them.
        assert await accepted(lb.stats, CAP), f"the proxy did not accept {CAP} connections"
        assert await until_refused(lb.base), f"a connection beyond {CAP} was served"
        # Another address is served meanwhile.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as s, \
                s.get(lb.base + "/ping") as resp:
            assert (resp.status, await resp.text()) == (200, "pong")
        # A freed place is taken again.
        held[0][1].close()
        await asyncio.sleep(0.3)
        reader, writer = await connect(lb.base)
        writer.write(b"GET /ping HTTP/1.1\r\nHost: shop\r\n\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"pong"), timeout=5)).startswith(b"HTTP/1.1 200")
        writer.close()
        for _, w in held[1:]:
            w.close()
