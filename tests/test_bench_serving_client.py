"""bench/serving.py's client counts every failed turn with its cause, so a report can say which."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web

from tests.bench_script import load_bench_script

serving = load_bench_script("serving")


async def test_failed_turns_are_counted_by_cause(aiohttp_server: Any) -> None:
    replies = iter([web.json_response([{"text": "hi"}]), web.json_response([]),
                    web.json_response({"error": "x"}, status=503)])

    async def webhook(request: web.Request) -> web.StreamResponse:
        return next(replies)

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    server = await aiohttp_server(app)
    client = serving.Client(str(server.make_url("/webhooks/rest/webhook")))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            await client.turn(session, "s", "hello")
    await server.close()
    async with aiohttp.ClientSession() as session:
        await client.turn(session, "s", "hello")  # nobody listens any more
    assert client.errors == 3
    assert client.causes == {"empty answer": 1, "HTTP 503": 1, "ClientConnectorError": 1}
