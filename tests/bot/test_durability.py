"""Nothing acknowledged is lost: kill -9 under load, and PostgreSQL stopped under load.

The real ``shopbot run`` on a real PostgreSQL, driven by 32 concurrent shoppers over HTTP. A turn
counts as acknowledged when its HTTP 200 (with ``X-Shopbot-Turn-Id``) reached the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from pathlib import Path

import aiohttp
import pytest

from harness.load import MESSAGES, drained, logged_ids
from harness.pg import Postgres, postgres
from harness.server_process import ShopbotProcess
from tests.signin import PASSWORD

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SESSIONS = 32


class Load:
    """Closed-loop shoppers over REST: acknowledged turn ids and what failed, by phase."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.acknowledged: set[str] = set()
        self.answered: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        self.phase = "before"
        self.stopped = False

    async def run(self, sessions: int) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await asyncio.gather(*(self._shopper(http, n) for n in range(sessions)))

    async def _shopper(self, http: aiohttp.ClientSession, n: int) -> None:
        rng = random.Random(n)
        while not self.stopped:
            body = {"sender": f"load-{n}", "message": rng.choice(MESSAGES)}
            try:
                async with http.post(self.base + "/webhooks/rest/webhook", json=body) as resp:
                    if resp.status == 200:
                        await resp.json()
                        self.acknowledged.add(resp.headers["X-Shopbot-Turn-Id"])
                        self.answered[self.phase] = self.answered.get(self.phase, 0) + 1
                    else:
                        self._fail(f"http {resp.status}")
            except (TimeoutError, aiohttp.ClientError) as err:
                self._fail(type(err).__name__)
                await asyncio.sleep(0.05)

    def _fail(self, kind: str) -> None:
        key = f"{self.phase}: {kind}"
        self.failures[key] = self.failures.get(key, 0) + 1


async def test_kill_9_under_load_three_times_loses_no_acknowledged_turn(
    built_var: Path, tmp_path: Path
) -> None:
    with postgres() as pg:
        env = {"SHOPBOT_JOURNAL_DIR": str(tmp_path / "journal")}
        server = ShopbotProcess(built_var, pg.url, env)
        acknowledged: set[str] = set()
        try:
            for _ in range(3):
                await server.start()
                load = Load(server.base)
                running = asyncio.create_task(load.run(SESSIONS))
                await asyncio.sleep(4.0)
                server.kill()  # mid-load: turns in flight, records in the journal, not in the database
                load.stopped = True
                await running
                assert len(load.acknowledged) > 20, load.failures
                acknowledged |= load.acknowledged
            await server.start()
            await drained(server)
        finally:
            server.stop()
        missing = acknowledged - logged_ids(pg.url)
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged turns lost"


async def _staff_cookie(server: ShopbotProcess) -> dict[str, str]:
    server.cli("users", "add", "sam", "--role", "staff", stdin=PASSWORD + "\n")
    async with aiohttp.ClientSession() as http, http.post(server.base + "/api/auth/login",
                         json={"username": "sam", "password": PASSWORD}) as resp:
        assert resp.status == 200
        return {"Cookie": f"shopbot_session={resp.cookies['shopbot_session'].value}"}


async def _outage_checks(server: ShopbotProcess, cookie: dict[str, str]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(server.base + "/api/handoffs", headers=cookie) as resp:
            assert resp.status == 503 and int(resp.headers["Retry-After"]) > 0
            assert (await resp.json())["error"]["code"] == "unavailable"
        async with http.get(server.base + "/health") as resp:
            assert resp.status == 200, "alive while the database is away"
        status, body = await server.ready(http)
        assert status == 503 and body["database"]["ok"] is False and body["journal"]["backlog"] > 0


async def _stop_for(pg: Postgres, load: Load, seconds: float) -> None:
    load.phase = "during"
    pg.stop()
    await asyncio.sleep(seconds)
    pg.start()
    load.phase = "after"


async def test_postgresql_down_under_load_every_turn_answered_and_logged_after(
    built_var: Path, tmp_path: Path
) -> None:
    with postgres() as pg:
        server = ShopbotProcess(built_var, pg.url, {"SHOPBOT_JOURNAL_DIR": str(tmp_path / "journal")})
        try:
            await server.start()
            cookie = await _staff_cookie(server)
            load = Load(server.base)
            running = asyncio.create_task(load.run(SESSIONS))
            await asyncio.sleep(3.0)
            outage = asyncio.create_task(_stop_for(pg, load, 15.0))
            await asyncio.sleep(5.0)
            await _outage_checks(server, cookie)
            await outage
            await asyncio.sleep(3.0)
            load.stopped = True
            await running
            assert not load.failures, f"every FAQ, product and action turn answered: {load.failures}"
            assert load.answered.get("during", 0) > 100, load.answered
            started = time.monotonic()
            await drained(server, timeout_s=60.0)
            assert time.monotonic() - started < 60
            async with aiohttp.ClientSession() as http, http.get(
                server.base + "/api/handoffs", headers=cookie
            ) as resp:
                assert resp.status == 200, "the staff API is back by itself"
        finally:
            with contextlib.suppress(Exception):
                server.stop()
        missing = load.acknowledged - logged_ids(pg.url)
        assert not missing, f"{len(missing)} of {len(load.acknowledged)} acknowledged turns lost"
