"""``shopbot run`` for real, with its default deadlines: slowloris clients are cut off within 30 s.

A head and a body trickled at one byte a second (what outside testers found left open after a
minute) are closed while a normal client is answered; the per-address cap comes from settings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from harness.server_process import ShopbotProcess
from tests.bot.test_slow_clients import SLOW_HEAD, closed_after, connect, held

pytestmark = pytest.mark.slow

CAP = 8


async def test_the_real_server_cuts_slow_clients_off_and_caps_one_address(built_var: Path,
                                                                           tmp_path: Path) -> None:
    server = ShopbotProcess(built_var, f"sqlite:///{tmp_path / 'turns.sqlite3'}",
                            {"SHOPBOT_JOURNAL_DIR": str(tmp_path / "journal"),
                             "SHOPBOT_MAX_CONNECTIONS_PER_ADDRESS": str(CAP)})
    await server.start()
    try:
        head = asyncio.create_task(closed_after(*await connect(server.port), SLOW_HEAD, every_s=1.0))
        body_reader, body_writer = await connect(server.port)
        body_writer.write(b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: shop\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n")
        body = asyncio.create_task(closed_after(body_reader, body_writer, b"{" + b" " * 199, every_s=1.0))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            while not (head.done() and body.done()):
                async with session.get(server.base + "/health") as resp:
                    assert resp.status == 200
                await asyncio.sleep(1.0)
        head_took, head_got = await head
        body_took, body_got = await body
        assert head_took < 30 and head_got == b""
        assert body_took < 30 and body_got.startswith(b"HTTP/1.1 408 ")

        mine = [await held(server.port, "127.0.0.1", "/health") for _ in range(CAP)]
        assert all(answer.startswith(b"HTTP/1.1 200") for _, _, answer in mine)
        _, extra, answer = await held(server.port, "127.0.0.1", "/health")
        assert answer.startswith(b"HTTP/1.1 503 ")
        _, other, answer = await held(server.port, "127.0.0.2", "/health")
        assert answer.startswith(b"HTTP/1.1 200")
        for _, writer, _ in [*mine, (None, extra, None), (None, other, None)]:
            writer.close()
    finally:
        server.stop()
