"""Both action runners against the real rasa-sdk: in-process and a real action server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from rasa_sdk import Tracker
from rasa_sdk.interfaces import ActionNotFoundException
from rasa_sdk.types import TrackerState

from actions.runner import (
    DOMAIN,
    ActionOutcome,
    HttpActionRunner,
    InProcessActionRunner,
    make_runner,
    tracker_state,
)
from actions.services import ShopServices
from core.errors import ActionRejected
from core.settings import REPO_ROOT, Settings
from harness.polling import until_sync

ServerFactory = Callable[[web.Application], Awaitable[TestServer]]

NO_SLOTS = {"last_product": None, "order_number": None, "recommend_mode": None}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> bool:
    """Whether the action server at ``url`` says it is healthy; fails at once if it has exited."""
    assert proc.poll() is None, f"action server exited:\n{log.read_text()}"
    with urllib.request.urlopen(url, timeout=1) as response:
        return bool(json.load(response) == {"status": "ok"})


@pytest.fixture(scope="module")
def action_server(shop_settings: Settings, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[str]:
    """A real ``python -m rasa_sdk --actions actions`` serving the tiny shop."""
    port, log = free_port(), tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "SANIC_HOST": "127.0.0.1",
           "SHOPBOT_VAR_DIR": str(shop_settings.var_dir),
           "SHOPBOT_TRANSACTIONS_CSV": str(shop_settings.transactions_csv)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        until_sync(partial(healthy, f"http://127.0.0.1:{port}/health", proc, log), timeout_s=30,
                   interval_s=0.2, ignoring=(OSError,), what="the action server to be healthy",
                   show=log.read_text)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        # The server runs Sanic workers in child processes: stop the whole group we started.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def local(services: ShopServices) -> InProcessActionRunner:
    runner = InProcessActionRunner(services)
    runner.warm_up()
    return runner


@pytest.fixture
async def remote(action_server: str) -> AsyncIterator[HttpActionRunner]:
    runner = HttpActionRunner(action_server, timeout_s=20.0)
    yield runner
    await runner.close()


def turn(intent: str, slots: dict[str, Any] | None = None,
         entities: list[dict[str, Any]] | None = None,
         metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    return tracker_state("web-7", {**NO_SLOTS, **(slots or {})}, "hello", intent,
                         entities or [], metadata or {})


CASES = {
    "recommend-anonymous": ("action_recommend", turn("recommend")),
    "recommend-known-customer": ("action_recommend",
                                 turn("recommend", metadata={"customer_id": "12345"})),
    "recommend-similar": ("action_recommend",
                          turn("recommend_similar", slots={"last_product": "10001"})),
    "order-status": ("action_order_status",
                     turn("order_status", entities=[{"entity": "order_number", "value": "500009"}],
                          metadata={"customer_id": "12345"})),
    "order-status-anonymous": ("action_order_status",
                               turn("order_status", entities=[{"entity": "order_number",
                                                               "value": "500009"}])),
    "order-status-other-customer": ("action_order_status",
                                    turn("order_status", slots={"order_number": "500009"},
                                         metadata={"customer_id": "11111"})),
    "order-status-unknown": ("action_order_status",
                             turn("order_status", slots={"order_number": "42"})),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_http_and_in_process_give_the_same_answer(
        case: str, local: InProcessActionRunner, remote: HttpActionRunner) -> None:
    action, tracker = CASES[case]
    here = await local.run(action, tracker, DOMAIN)
    there = await remote.run(action, tracker, DOMAIN)
    assert there == here
    assert here.messages and here.messages[0].text


async def test_http_answers_match_the_expected_content(remote: HttpActionRunner) -> None:
    action, tracker = CASES["recommend-known-customer"]
    outcome = await remote.run(action, tracker, DOMAIN)
    custom = outcome.messages[0].custom or {}
    assert [c["stock_code"] for c in custom["products"]][:2] == ["10007", "10004"]
    assert outcome.events[0]["event"] == "slot" and outcome.events[0]["value"] == "10007"
    action, tracker = CASES["order-status"]
    text = (await remote.run(action, tracker, DOMAIN)).messages[0].text or ""
    assert "delivered" in text and "£8.75" in text


async def test_unknown_action_is_rejected_by_both(local: InProcessActionRunner,
                                                  remote: HttpActionRunner) -> None:
    with pytest.raises(ActionRejected) as in_process:
        await local.run("action_fly_to_the_moon", turn("recommend"), DOMAIN)
    assert isinstance(in_process.value.__cause__, ActionNotFoundException)
    with pytest.raises(ActionRejected, match="404"):
        await remote.run("action_fly_to_the_moon", turn("recommend"), DOMAIN)


async def test_in_process_action_failure_is_rejected(local: InProcessActionRunner) -> None:
    tracker = turn("recommend")
    tracker["latest_message"]["intent"] = "recommend"  # a malformed parse: not a dict
    with pytest.raises(ActionRejected) as raised:
        await local.run("action_recommend", tracker, DOMAIN)
    assert isinstance(raised.value.__cause__, AttributeError)


async def test_action_server_error_is_rejected(aiohttp_server: ServerFactory) -> None:
    async def broken(_: web.Request) -> web.Response:
        return web.json_response({"error": "database on fire"}, status=500)

    runner = await _runner_for(aiohttp_server, broken, timeout_s=5.0)
    with pytest.raises(ActionRejected, match="500.*database on fire"):
        await runner.run("action_recommend", turn("recommend"), DOMAIN)
    await runner.close()


async def test_action_server_timeout_is_rejected(aiohttp_server: ServerFactory) -> None:
    gave_up = asyncio.Event()

    async def slow(_: web.Request) -> web.Response:
        await gave_up.wait()  # answers only once the runner has stopped waiting
        return web.json_response({"events": [], "responses": []})

    runner = await _runner_for(aiohttp_server, slow, timeout_s=0.2)
    with pytest.raises(ActionRejected) as raised:
        await runner.run("action_recommend", turn("recommend"), DOMAIN)
    gave_up.set()
    assert isinstance(raised.value.__cause__, TimeoutError)
    await runner.close()


@pytest.mark.parametrize("body", ["not json", json.dumps({"events": "x", "responses": []}),
                                  json.dumps([1, 2])])
async def test_malformed_answer_is_rejected(aiohttp_server: ServerFactory, body: str) -> None:
    async def odd(_: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    runner = await _runner_for(aiohttp_server, odd, timeout_s=5.0)
    with pytest.raises(ActionRejected):
        await runner.run("action_recommend", turn("recommend"), DOMAIN)
    await runner.close()


async def test_unreachable_action_server_is_rejected() -> None:
    runner = HttpActionRunner(f"http://127.0.0.1:{free_port()}/webhook", timeout_s=5.0)
    with pytest.raises(ActionRejected) as raised:
        await runner.run("action_recommend", turn("recommend"), DOMAIN)
    assert isinstance(raised.value.__cause__, aiohttp.ClientError)
    await runner.close()


async def test_http_runner_sends_the_webhook_protocol(aiohttp_server: ServerFactory) -> None:
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response({"events": [{"event": "slot", "name": "x", "value": 1}],
                                  "responses": [{"text": "hi", "custom": {}}]})

    session = aiohttp.ClientSession()
    runner = await _runner_for(aiohttp_server, echo, timeout_s=5.0, session=session)
    tracker = turn("recommend")
    outcome = await runner.run("action_recommend", tracker, DOMAIN)
    await runner.close()
    assert not session.closed  # a session passed in belongs to the caller
    await session.close()
    (call,) = seen
    assert call["next_action"] == "action_recommend" and call["sender_id"] == "web-7"
    assert call["tracker"] == tracker and call["domain"] == DOMAIN and call["version"]
    assert outcome.events == ({"event": "slot", "name": "x", "value": 1},)
    assert outcome.messages[0].text == "hi" and outcome.messages[0].custom is None


async def _runner_for(factory: ServerFactory, handler: Callable[[web.Request],
                      Awaitable[web.Response]], timeout_s: float,
                      session: aiohttp.ClientSession | None = None) -> HttpActionRunner:
    app = web.Application()
    app.router.add_post("/webhook", handler)
    server = await factory(app)
    return HttpActionRunner(str(server.make_url("/webhook")), timeout_s, session)


def test_tracker_state_is_a_valid_rasa_tracker() -> None:
    state = tracker_state("u1", {"order_number": "42", "last_product": None}, "where is 42?",
                          "order_status", [{"entity": "order_number", "value": "42"}],
                          {"customer_id": "12345"})
    assert set(TrackerState.__annotations__) <= set(state)
    tracker = Tracker.from_dict(state)  # type: ignore[arg-type]
    assert tracker.get_intent_of_latest_message() == "order_status"
    assert list(tracker.get_latest_entity_values("order_number")) == ["42"]
    assert tracker.get_slot("order_number") == "42"
    assert tracker.get_latest_input_channel() == "rest"
    assert tracker.latest_message["metadata"] == {"customer_id": "12345"}
    assert [e["event"] for e in tracker.events] == ["slot", "action", "user"]
    assert json.loads(json.dumps(state)) == state


def test_domain_declares_what_the_actions_use() -> None:
    assert set(DOMAIN["slots"]) == {"last_product", "order_number", "verified_order", "recommend_mode"}
    assert set(DOMAIN["entities"]) == {"order_number", "email", "postcode"}
    assert set(DOMAIN["actions"]) == {"action_recommend", "action_order_status"}
    intents = {name for item in DOMAIN["intents"] for name in item}
    assert {"recommend", "recommend_similar", "order_status"} <= intents


async def test_make_runner_chooses_by_endpoint(shop_settings: Settings) -> None:
    def load() -> ShopServices:
        return ShopServices.load(shop_settings.shop_dir, shop_settings.transactions_csv)

    remote = make_runner("http://a:5055/webhook", 3.0, load)
    assert isinstance(remote, HttpActionRunner)
    assert remote.endpoint == "http://a:5055/webhook" and remote.timeout_s == 3.0
    local = make_runner("", shop_settings.action_timeout_s, load)
    assert isinstance(local, InProcessActionRunner)
    # Without injected services it loads them from the settings on first use.
    outcome = await local.run("action_order_status", turn("order_status", slots={
        "order_number": "500010"}, metadata={"customer_id": "12345"}), DOMAIN)
    assert isinstance(outcome, ActionOutcome) and "shipped" in (outcome.messages[0].text or "")
