"""A cluster on one machine, for real: two ``shopbot run`` workers behind HAProxy, PostgreSQL, Redis.

Everything goes through the balancer, started with the shipped config (deploy/haproxy/haproxy.cfg):
signed-in shoppers over REST, socket.io shoppers on long-polling (which needs the sticky
sessions) and upgraded from it to WebSocket, the widget in Chromium (WebSocket first), staff
who claim, answer and resolve a handoff, and an auditor who promotes a correction. Mid-run
worker 2 is killed (SIGKILL) and started again, then PostgreSQL is stopped for a while. A client
may send a failed message once more, as the widget's "Try again" does; beyond that nothing may
fail. Every acknowledged turn must reach the turn log, each conversation's turns in the order
they were acknowledged, slots must survive the move to the other worker, and the correction
must reach every worker.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
import socketio
from playwright.async_api import Page
from sqlalchemy import select

from bot.auth.guard import Role
from core.db import make_engine
from core.shop import load_orders
from harness.balancer import Balancer, haproxy
from harness.load import drained
from harness.pg import Postgres, postgres
from harness.polling import until
from harness.redis_server import redis_server
from harness.server_process import ShopbotProcess
from monitoring.turnlog import turns
from tests.identity import IDENTITY_ENV, token
from tests.signin import PASSWORD, sign_in
from tests.web.conftest import chromium

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.browser]

T = TypeVar("T")
REST_SHOPPERS = 6
CHAT = ["how long does delivery take?", "can I return an item?", "do you sell cookie jars?",
        "where is it now?", "what payment methods do you accept?", "recommend something"]
QUESTION = "is the glass cookie jar good for storing biscuits?"
CORRECTION = "Our glass cookie jars are airtight, so biscuits stay crisp for weeks."
TIMEOUT = aiohttp.ClientTimeout(total=30)
_ASKS = itertools.count()
ANSWERS = ".sb-msg--bot:not(.sb-typing):not(.sb-error) .sb-bubble"  # the widget's answers, shown


class Failed(Exception):
    """A message that failed on both tries."""


@dataclass
class Tally:
    """What every client saw: acknowledged turns per conversation, in order, and what failed."""

    acknowledged: dict[str, list[str]] = field(default_factory=dict)
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    slot_misses: list[str] = field(default_factory=list)
    stopped: bool = False

    def ack(self, conversation: str, turn_id: str) -> None:
        self.acknowledged.setdefault(conversation, []).append(turn_id)

    async def twice(self, what: str, attempt: Callable[[], Awaitable[T]], pause_s: float = 1.0) -> T:
        """One try and, as the widget's "Try again", one more; a second failure is counted."""
        try:
            return await attempt()
        except Exception as err:  # noqa: BLE001 - any failure of the first try may be retried
            self.retried.append(f"{what}: {type(err).__name__} {err}"[:200])
        await asyncio.sleep(pause_s)
        try:
            return await attempt()
        except Exception as err:  # noqa: BLE001
            self.failed.append(f"{what}: {type(err).__name__} {err}"[:300])
            raise Failed(what) from err


async def rest_shopper(base: str, n: int, customer: str, order_id: str, tally: Tally) -> None:
    """A signed-in customer asking about their order, then chatting on until stopped."""
    conversation = f"cluster-rest-{n}"
    metadata = {"customer_id": customer, "customer_token": token(customer)}

    async def post(http: aiohttp.ClientSession, text: str) -> tuple[str, str]:
        body = {"sender": conversation, "message": text, "metadata": metadata}
        async with http.post(base + "/webhooks/rest/webhook", json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {(await resp.text())[:120]}")
            answer = await resp.json()
            return resp.headers["X-Shopbot-Turn-Id"], " ".join(m.get("text", "") for m in answer)

    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        first = f"where is my order {order_id}"
        turn_id, text = await tally.twice(f"{conversation} #0", lambda: post(http, first))
        tally.ack(conversation, turn_id)
        assert order_id in text, text
        i = 0
        while not tally.stopped:
            message = CHAT[(n + i) % len(CHAT)]
            i += 1
            try:
                turn_id, text = await tally.twice(f"{conversation} #{i}", partial(post, http, message))
            except Failed:
                continue
            tally.ack(conversation, turn_id)
            if message == "where is it now?" and order_id not in text:
                tally.slot_misses.append(f"{conversation}: {text[:120]}")


class SocketShopper:
    """A rasa-webchat-like socket.io client that reconnects and asks for its session again."""

    def __init__(self, base: str, name: str, transports: list[str]) -> None:
        self.base = base
        self.name = name
        self.transports = transports
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2,
                                        reconnection_delay_max=1, randomization_factor=0)
        self.confirmed = asyncio.Event()
        self.uttered: list[dict[str, Any]] = []
        # The conversation's token (session_token), sent back on every reconnect as the widget does.
        self.token: str | None = None
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("session_token", self._on_token)
        self.sio.on("session_confirm", self._on_confirm)
        self.sio.on("bot_uttered", self.uttered.append)

    async def _on_connect(self) -> None:
        request: dict[str, Any] = {"session_id": self.name}
        if self.token is not None:
            request["conversation_token"] = self.token
        await self.sio.emit("session_request", request)

    async def _on_token(self, data: Any) -> None:
        if isinstance(data, dict) and data.get("session_id") == self.name:
            self.token = data.get("conversation_token")

    async def _on_disconnect(self, *reason: Any) -> None:
        self.confirmed.clear()

    async def _on_confirm(self, session: Any) -> None:
        assert session == self.name, session
        self.confirmed.set()

    async def start(self) -> None:
        await self.sio.connect(self.base, transports=self.transports, socketio_path="/socket.io/")
        await asyncio.wait_for(self.confirmed.wait(), 15)

    async def say(self, text: str) -> dict[str, Any]:
        """Send a message once the session is confirmed; the ack (turn id, message count)."""
        await asyncio.wait_for(self.confirmed.wait(), 20)
        data = {"message": text, "session_id": self.name, "customData": {}}
        ack = await self.sio.call("user_uttered", data, timeout=20)
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise RuntimeError(f"refused: {ack}")
        return ack

    async def chat(self, tally: Tally) -> None:
        i = 0
        while not tally.stopped:
            message = CHAT[i % len(CHAT)]
            i += 1
            try:
                ack = await tally.twice(f"{self.name} #{i}", partial(self.say, message), pause_s=0.5)
            except Failed:
                continue
            tally.ack(self.name, ack["turn_id"])


async def widget(page: Page, texts: list[str], tally: Tally) -> int:
    """Send ``texts`` in the widget, pressing "Try again" at most once each; answers shown."""
    answers = page.locator(ANSWERS)
    box = page.get_by_role("textbox", name="Your message")
    for text in texts:
        before = await answers.count()
        await box.fill(text)
        await box.press("Enter")
        await until(partial(answered, page, before, f"widget: {text}", tally), timeout_s=40, interval_s=0.1,
                    what=f"an answer in the widget to {text!r}")
    return await answers.count()


async def answered(page: Page, before: int, what: str, tally: Tally) -> bool:
    """Whether the widget shows more than ``before`` answers; on an error, "Try again" once.

    An error after that try is counted as failed, and ends the wait too.
    """
    if await page.locator(ANSWERS).count() > before:
        return True
    retry = page.locator(".sb-retry")
    if not await retry.count():
        return False
    if what in tally.retried:
        tally.failed.append(what)
        return True
    tally.retried.append(what)
    await retry.last.click()
    return False


async def workers_stats(http: aiohttp.ClientSession, lb: Balancer) -> dict[str, dict[str, str]]:
    """HAProxy's stats rows of the workers, by server name."""
    async with http.get(lb.stats + "/stats;csv") as resp:
        rows = list(csv.DictReader(io.StringIO((await resp.text()).lstrip("# "))))
    return {r["svname"]: r for r in rows if r["pxname"] == "workers" and r["svname"].startswith("w")}


async def servers_up(lb: Balancer, names: set[str], timeout_s: float = 60) -> dict[str, dict[str, str]]:
    """Wait until HAProxy's health checks see ``names`` UP; its stats rows per server."""
    async with aiohttp.ClientSession() as http:

        async def all_up() -> dict[str, dict[str, str]] | None:
            found = await workers_stats(http, lb)
            return found if all(found.get(n, {}).get("status") == "UP" for n in names) else None

        return await until(all_up, timeout_s=timeout_s, interval_s=0.25,
                           what=f"{sorted(names)} UP in HAProxy")


async def signed_in(base: str, name: str, role: Role) -> dict[str, str]:
    async with aiohttp.ClientSession(base_url=base) as http:
        return await sign_in(http, None, name, role, create=False)


async def login_limit_is_shared(lb: Balancer) -> None:
    """Failed logins spread over both workers count against one limit (kept in Redis)."""
    before = await servers_up(lb, {"w1", "w2"})
    statuses = []
    wrong = {"username": "mallory", "password": "not the right password"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(7):
            async with http.post(lb.base + "/api/auth/login", json=wrong) as resp:
                statuses.append(resp.status)
    after = await servers_up(lb, {"w1", "w2"})
    assert all(int(after[w]["stot"]) > int(before[w]["stot"]) for w in ("w1", "w2")), "both workers asked"
    assert statuses == [401] * 5 + [429] * 2, statuses  # 5 per account and address (the default)


async def staff_take_over(base: str, staff: dict[str, str], shopper: SocketShopper, tally: Tally) -> None:
    """The shopper asks for a person; staff claim, answer and resolve, all through the balancer."""
    await tally.twice("handoff request", lambda: shopper.say("I want to talk to a person"))
    async with aiohttp.ClientSession(timeout=TIMEOUT, headers=staff) as http:

        async def pending() -> dict[str, Any] | None:
            async with http.get(base + "/api/handoffs") as resp:
                assert resp.status == 200, await resp.text()
                listed = (await resp.json())["handoffs"]
            return next((h for h in listed if h["status"] == "pending"), None)

        handoff = await until(pending, timeout_s=20, interval_s=0.2, what="a pending handoff")
        for step, body in (("claim", None), ("messages", {"text": "Hi, this is Sam."}), ("resolve", None)):
            async with http.post(f"{base}/api/handoffs/{handoff['id']}/{step}", json=body) as resp:
                assert resp.status in (200, 201), f"{step}: {resp.status} {await resp.text()}"
            if step == "messages":
                await until(lambda: any(m.get("text") == "Hi, this is Sam." for m in shopper.uttered),
                            timeout_s=10, interval_s=0.1, what="the staff reply at the shopper")


async def promote_correction(base: str, auditor: dict[str, str], tally: Tally) -> None:
    """An auditor corrects a logged answer and promotes it to the live bot."""
    async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
        async with http.post(base + "/webhooks/rest/webhook",
                             json={"sender": "cluster-auditor-probe", "message": QUESTION}) as resp:
            assert resp.status == 200
            turn_id = resp.headers["X-Shopbot-Turn-Id"]
        tally.ack("cluster-auditor-probe", turn_id)

        async def reviewed() -> bool:
            async with http.post(f"{base}/api/turns/{turn_id}/review", headers=auditor,
                                 json={"verdict": "incorrect", "correction": CORRECTION}) as resp:
                # 404 until the turn, written behind the answer, is in the shared log.
                assert resp.status in (201, 404), await resp.text()
                return resp.status == 201

        await until(reviewed, timeout_s=20, interval_s=0.2,
                    what=f"turn {turn_id} in the shared log, to review it")
        async with http.post(f"{base}/api/turns/{turn_id}/promote", json={}, headers=auditor) as resp:
            assert resp.status == 201, await resp.text()


async def answered_with_correction(http: aiohttp.ClientSession, worker: ShopbotProcess) -> bool:
    """Whether ``worker``, asked directly (not through the balancer), answers with the correction.

    Each ask is a new shopper's: a worker that has not yet seen the promote (it checks every 2 s)
    declines, and three declines in one conversation hand it to a person for good, after which
    that conversation would never hear the correction (the escalation policy, not a lost promote).
    """
    body = {"sender": f"cluster-check-{worker.port}-{next(_ASKS)}", "message": QUESTION}
    async with http.post(worker.base + "/webhooks/rest/webhook", json=body) as resp:
        return resp.status == 200 and any(m.get("text") == CORRECTION for m in await resp.json())


def logged(url: str, ids: set[str]) -> dict[str, tuple[str, Any]]:
    """turn id -> (conversation id, time) for the given ids found in the turn log."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            query = select(turns.c.turn_id, turns.c.conversation_id, turns.c.ts)
            query = query.where(turns.c.turn_id.in_(ids))
            return {r.turn_id: (r.conversation_id, r.ts) for r in conn.execute(query)}
    finally:
        engine.dispose()


async def test_two_workers_behind_haproxy_lose_nothing_when_one_is_killed(
    built_var: Path, tmp_path: Path
) -> None:
    orders = [o for o in load_orders(built_var / "shop").values()
              if o.customer_id and o.status != "cancelled"]
    customers: dict[str, str] = {}
    for order in orders:  # one order per customer, so that each conversation asks about its own
        customers.setdefault(str(order.customer_id), order.order_id)
    picked = list(customers.items())[:REST_SHOPPERS]
    assert len(picked) == REST_SHOPPERS

    with postgres() as pg, redis_server() as redis_url:
        common = {"SHOPBOT_REDIS_URL": redis_url, "SHOPBOT_TRUSTED_PROXIES": "127.0.0.1/32",
                  "SHOPBOT_IDENTITY_SECRET_ENV": IDENTITY_ENV}
        journals = [tmp_path / "journal-1", tmp_path / "journal-2"]  # one per machine, as in production
        workers = [ShopbotProcess(built_var, pg.url, {**common, "SHOPBOT_JOURNAL_DIR": str(j)})
                   for j in journals]
        try:
            await asyncio.gather(*(w.start() for w in workers))
            workers[0].cli("users", "add", "sam", "--role", "staff", stdin=PASSWORD + "\n")
            workers[0].cli("users", "add", "ada", "--role", "auditor", stdin=PASSWORD + "\n")
            with haproxy([w.port for w in workers]) as lb:
                await servers_up(lb, {"w1", "w2"})
                await _drive(lb, workers, picked, pg)
        finally:  # both at once: each waits for its own clean shutdown
            await asyncio.gather(*(asyncio.to_thread(worker.stop) for worker in workers))


async def _drive(
    lb: Balancer, workers: list[ShopbotProcess], picked: list[tuple[str, str]], pg: Postgres
) -> None:
    tally = Tally()
    await login_limit_is_shared(lb)
    staff = await signed_in(lb.base, "sam", Role.STAFF)
    auditor = await signed_in(lb.base, "ada", Role.AUDITOR)
    polling = SocketShopper(lb.base, "cluster-polling", ["polling"])
    # Starts on long-polling and upgrades to WebSocket: the upgrade request must reach the worker
    # that holds the polling session, as every poll must.
    websocket = SocketShopper(lb.base, "cluster-upgraded", ["polling", "websocket"])
    await asyncio.gather(polling.start(), websocket.start())
    async with chromium() as pages:
        try:
            # Its console errors are not checked: the kill and the outage provoke some on purpose.
            page = await pages.page()
            await page.goto(lb.base + "/")
            await page.get_by_role("button", name=re.compile("^Open chat")).click()
            shown = await widget(page, ["how long does delivery take?"], tally)

            load = [asyncio.create_task(rest_shopper(lb.base, n, customer, order, tally))
                    for n, (customer, order) in enumerate(picked)]
            load += [asyncio.create_task(s.chat(tally)) for s in (polling, websocket)]
            await asyncio.sleep(5)
            workers[1].kill()  # mid-run: turns in flight on it, records in its journal
            await asyncio.sleep(3)
            # Shoppers keep going on worker 1 meanwhile, the widget included.
            shown = await widget(page, ["can I return an item?"], tally)
            await workers[1].start()
            stats = await servers_up(lb, {"w1", "w2"})
            served_before = int(stats["w2"]["stot"])
            await asyncio.sleep(5)  # worker 2 takes its share again
            # PostgreSQL away for a while: the workers answer from their journals, and the
            # balancer must keep sending them shoppers (its health check is not the database's).
            pg.stop()
            await asyncio.sleep(6)
            pg.start()

            await staff_take_over(lb.base, staff, websocket, tally)
            await promote_correction(lb.base, auditor, tally)
            shown = await widget(page, ["do you sell cookie jars?"], tally)
            transport = websocket.sio.transport()
            tally.stopped = True
            await asyncio.gather(*load)
        finally:
            tally.stopped = True
            await asyncio.gather(polling.sio.disconnect(), websocket.sio.disconnect())

    assert not tally.failed, f"failed after one retry: {tally.failed}"
    assert not tally.slot_misses, f"slots lost: {tally.slot_misses}"
    assert shown == 3, "the widget showed an answer to each message"
    stats = await servers_up(lb, {"w1", "w2"})
    assert int(stats["w2"]["stot"]) > served_before, "the restarted worker took requests again"
    for worker in workers:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            await until(partial(answered_with_correction, http, worker), timeout_s=15, interval_s=0.5,
                        what=f"the correction in the answers of {worker.base}")
        await drained(worker)

    assert transport == "websocket", "the upgrade from long-polling went through the balancer"
    clients = ["cluster-polling", "cluster-upgraded", *(f"cluster-rest-{n}" for n in range(REST_SHOPPERS))]
    for client in clients:
        assert len(tally.acknowledged.get(client, [])) > 10, f"{client} hardly got through"
    acknowledged = {t for ids in tally.acknowledged.values() for t in ids}
    assert len(acknowledged) > 100, f"too little load to mean anything: {len(acknowledged)}"
    found = logged(pg.url, acknowledged)
    missing = acknowledged - set(found)
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged turns lost"
    for conversation, ids in tally.acknowledged.items():
        assert len({found[t][0] for t in ids}) == 1, f"{conversation} split across conversations"
        times = [found[t][1] for t in ids]
        assert times == sorted(times), f"{conversation}: turns logged out of order"
    print(f"acknowledged {len(acknowledged)}, retried once {len(tally.retried)}: {tally.retried[:5]}")
