"""Redis stopped for 20 s under ``shopbot run --workers 2`` and load, for real: every order turn is
answered about the order just named, no follow-up names an earlier order (each message on a new
connection, so a conversation moves between the workers), staff still sign in
(or are told 503 with ``Retry-After``), the outage writes fewer than 50 log lines, and the
workers go back to Redis by themselves when it returns."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from core.settings import Settings
from core.shop import load_orders
from harness.polling import until
from harness.server_process import SHOPBOT, ShopbotProcess
from tests.bot.redis_outage import stoppable_redis
from tests.signin import PASSWORD

pytestmark = pytest.mark.slow

SHOPPERS = 8
OUTAGE_S = 20.0
WENT_WRONG = "went wrong"


@dataclass
class Tally:
    order_turns: int = 0
    failed: list[str] = field(default_factory=list)
    follow_ups: int = 0
    wrong_order: list[str] = field(default_factory=list)
    sign_ins: list[int] = field(default_factory=list)
    stopped: bool = False


async def shopper(base: str, n: int, orders: list[str], tally: Tally) -> None:
    """An anonymous shopper naming order after order, each time asking where it is now."""
    sender = f"outage-{n}"
    # A connection per message: the shopper's messages go to either worker, as behind a balancer.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                     connector=aiohttp.TCPConnector(force_close=True)) as http:
        i = 0
        while not tally.stopped:
            order = orders[(n * 7 + i) % len(orders)]
            i += 1
            for text in (f"where is my order {order}", "where is it now?"):
                async with http.post(base + "/webhooks/rest/webhook",
                                     json={"sender": sender, "message": text}) as resp:
                    ok = resp.status == 200
                    answer = " ".join(m.get("text", "") for m in await resp.json()) if ok else ""
                    if text.startswith("where is my order"):
                        tally.order_turns += 1
                        if resp.status != 200 or WENT_WRONG in answer or order not in answer:
                            tally.failed.append(f"{resp.status} {order}: {answer[:120]}")
                    else:
                        tally.follow_ups += 1
                        named = set(re.findall(r"\d{4,}", answer)) & set(orders)
                        if named - {order}:
                            tally.wrong_order.append(f"asked {order}: {answer[:120]}")


async def sign_in(base: str, tally: Tally) -> None:
    body = {"username": "sam", "password": PASSWORD}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, \
            http.post(base + "/api/auth/login", json=body) as resp:
        tally.sign_ins.append(resp.status)
        assert resp.status == 200 or (resp.status == 503 and "Retry-After" in resp.headers), \
            await resp.text()


async def test_two_workers_ride_out_a_redis_outage(built_var: Path, tmp_path: Path) -> None:
    orders = sorted(load_orders(Settings(var_dir=built_var).shop_dir))[:40]
    log_path = tmp_path / "server.log"
    with stoppable_redis() as redis:
        server = ShopbotProcess(built_var, f"sqlite:///{tmp_path / 'turns.sqlite3'}",
                                {"SHOPBOT_JOURNAL_DIR": str(tmp_path / "journal"),
                                 "SHOPBOT_REDIS_URL": redis.url,
                                 # The limits are still counted (in Redis, then in each worker's
                                 # memory); high enough that 8 shoppers naming order after order
                                 # from one address are not refused for it.
                                 "SHOPBOT_ORDER_LOOKUPS_PER_CONVERSATION": "1000000",
                                 "SHOPBOT_ORDER_LOOKUPS_PER_IP": "1000000"},
                                run_args=("--workers", "2"))
        server.cli("users", "add", "sam", "--role", "staff", stdin=PASSWORD + "\n")
        with log_path.open("wb") as log:
            server.proc = subprocess.Popen([str(SHOPBOT), "run", *server.run_args], env=server.env,
                                           stdout=log, stderr=log)
            try:
                async with aiohttp.ClientSession() as http:
                    async def healthy() -> bool:
                        async with http.get(server.base + "/health") as resp:
                            return resp.status == 200

                    await until(healthy, timeout_s=300, interval_s=0.5, ignoring=(aiohttp.ClientError,),
                                what="the workers to answer /health")
                tally = Tally()
                load = [asyncio.create_task(shopper(server.base, n, orders, tally)) for n in range(SHOPPERS)]
                await asyncio.sleep(3)
                await sign_in(server.base, tally)
                before = len(log_path.read_bytes().splitlines())
                redis.stop()
                stopped = time.monotonic()
                while time.monotonic() - stopped < OUTAGE_S:
                    await sign_in(server.base, tally)
                    await asyncio.sleep(3)
                turns_in_outage = tally.order_turns
                redis.start()
                await asyncio.sleep(5)
                await sign_in(server.base, tally)
                tally.stopped = True
                await asyncio.gather(*load)
                lines = log_path.read_bytes().splitlines()[before:]
            finally:
                server.stop()
    assert turns_in_outage > 20, "load went on during the outage"
    assert tally.failed == [], tally.failed[:5]
    assert tally.wrong_order == [], tally.wrong_order[:5]
    assert tally.follow_ups > 20
    assert len(tally.sign_ins) >= 6 and set(tally.sign_ins) <= {200, 503}
    assert len(lines) < 50, b"\n".join(lines[:60]).decode(errors="replace")
