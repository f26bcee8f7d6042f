"""Malformed socket.io and engine.io frames on a real server: refused quietly, never a traceback
per frame, and the log stays short (one line per cause per interval, with a count)."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

from core.settings import Settings
from tests.bot.channels.test_socketio import Shop, start_shop

# Socket.IO packets after the engine.io "4" (message) prefix: garbage, bad JSON, wrong types,
# reserved event names, packet types a client may not send, binary events with nothing after.
SOCKETIO_GARBAGE = [
    "4garbage", "42", "42[", "42{}", "42[]", "42[5]", '42[null,{"a":1}]', '42"text"', "42[[[[",
    '42["connect",{}]', '42["disconnect"]', '42["connect_error"]', '421["connect",{}]',
    '42/nowhere,["user_uttered",{}]', "44{}", '43["x"]', "49", "4x", '451-["user_uttered",'
    '{"_placeholder":true,"num":0}]', '42["user_uttered",' + "[" * 50 + "]" * 50 + "]",
    '42["user_uttered",{"message":1e999}]', "42" + json.dumps(["history_request", "x" * 2000]),
    '42["user_uttered",{"message":"\\ud800","session_id":"\\udfff"}]', "4\x00\x01\x02",
]
# Engine.IO packets that are not even a message (not "1": closing is what a client may do).
ENGINEIO_GARBAGE = ["", "9", "x", "7", "0{}", "3", "5", "6", "bnot base64!"]
ROUNDS = 8


@pytest.fixture
async def shop(aiohttp_server: Any, shop_settings: Settings) -> Shop:
    return await start_shop(aiohttp_server, shop_settings)


async def _connected(http: aiohttp.ClientSession, url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(url + "/socket.io/?EIO=4&transport=websocket")
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0{")
    await ws.send_str("40")
    assert (await ws.receive_str(timeout=5)).startswith("40")
    return ws


async def test_a_flood_of_malformed_frames_writes_a_short_log(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    frames = (SOCKETIO_GARBAGE + ENGINEIO_GARBAGE) * ROUNDS
    closed = 0
    async with aiohttp.ClientSession() as http:
        ws = await _connected(http, shop.url)
        for frame in frames:
            try:
                await ws.send_str(frame)
            except (ConnectionResetError, RuntimeError):
                closed += 1
            if ws.closed:
                closed += 1
                ws = await _connected(http, shop.url)
        for raw in (b"\x00\x01", b"\xff" * 10):
            await ws.send_bytes(raw)
        # The server still answers this socket: an event is acknowledged.
        await ws.send_str('42777["session_request",{"session_id":"after-the-flood"}]')
        while True:
            message = await ws.receive(timeout=10)
            assert message.type == aiohttp.WSMsgType.TEXT, message
            if message.data.startswith("43777"):
                break
        assert json.loads(message.data[5:]) == ["after-the-flood"]
        assert shop.channel.connected("after-the-flood")
        await ws.close()

    lines: list[logging.LogRecord] = [r for r in caplog.records if not r.name.startswith("aiohttp.access")]
    assert len(frames) > 250
    assert len(lines) < 50, "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in lines)
    assert not [r for r in lines if r.exc_info], "a malformed frame is no traceback"
    assert not [r for r in lines if r.levelno >= logging.ERROR]
    refused = [r.getMessage() for r in lines if r.name == "bot.channels.socketio"]
    assert any("reserved event" in m for m in refused) and any("not an event" in m for m in refused)


async def test_malformed_long_polling_bodies_write_a_short_log(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bodies: list[bytes] = [b"", b"x", b"\x1e\x1e", b"\xff\xfe", b"4[", b"42[5]", b'42["connect"]', b"b!!!",
                           b"9", b"d=%ZZ", b"4" * 5000, "4\u00e9".encode()] * ROUNDS
    async with aiohttp.ClientSession() as http:
        async with http.get(shop.url + "/socket.io/?EIO=4&transport=polling") as resp:
            sid = json.loads((await resp.text())[1:])["sid"]
        url = f"{shop.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        async with http.post(url, data=b"40") as resp:
            assert resp.status == 200
        statuses = set()
        for body in bodies:
            async with http.post(url, data=body, headers={"Content-Type": "text/plain"}) as resp:
                statuses.add(resp.status)
        async with http.post(f"{shop.url}/socket.io/?EIO=4&transport=polling&sid=no-such-session",
                             data=b"40") as resp:
            statuses.add(resp.status)
    assert statuses <= {200, 400}, statuses
    lines = [r for r in caplog.records if not r.name.startswith("aiohttp.access")]
    assert len(lines) < 50, "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in lines)
    assert not [r for r in lines if r.exc_info or r.levelno >= logging.ERROR], [r.getMessage() for r in lines]


async def test_reserved_names_from_a_raw_client_get_an_error_not_a_connect(shop: Shop) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await _connected(http, shop.url)
        await ws.send_str('427["connect",{"session_id":"x"}]')
        answer: Any = None
        while answer is None:
            text = await ws.receive_str(timeout=5)
            if text.startswith("437"):
                answer = json.loads(text[3:])
        await ws.close()
    assert answer[0]["ok"] is False and "reserved" in answer[0]["error"]["message"]
