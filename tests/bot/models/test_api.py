"""/api/models through the real app: admins only, the gate enforced, a deploy swaps under load."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from bot.auth.guard import Role
from bot.models.keys import JOBS
from bot.server import create_app
from bot.serving.turnlog import SINK
from bot.web.keys import ENGINE
from core.settings import Settings
from harness.polling import until
from monitoring.turnlog import TurnLog
from tests.apps import feature_app
from tests.registry import Registered
from tests.signin import sign_in

QUESTIONS = ["how long does delivery take", "can I return a gift", "what is the weather on mars",
             "do you sell lunch boxes", "where is my order 581475", "hi"]


async def _chat(client: TestClient, sender: str, text: str) -> int:
    resp = await client.post("/webhooks/rest/webhook", json={"sender": sender, "message": text})
    await resp.read()
    return resp.status


async def _load(client: TestClient, stop: asyncio.Event, statuses: list[int], worker: int) -> None:
    n = 0
    while not stop.is_set():
        statuses.append(await _chat(client, f"shopper-{worker}", QUESTIONS[n % len(QUESTIONS)]))
        n += 1


async def test_models_api_is_for_admins_and_refuses_a_failing_candidate(
    aiohttp_client: Any, lifecycle_settings: Settings, registered: Registered
) -> None:
    client = await aiohttp_client(create_app(lifecycle_settings))
    auditor = await sign_in(client, client.app, "ada", Role.AUDITOR)
    assert (await client.get("/api/models", headers=auditor)).status == 403
    assert (await client.get("/api/models")).status == 401
    admin = await sign_in(client, client.app, "root", Role.ADMIN)

    listed = await (await client.get("/api/models", headers=admin)).json()
    assert {m["version"]: m["state"] for m in listed["models"]} == {
        registered.good: "candidate", registered.shuffled: "candidate"}
    assert listed["live"] == {"router": None, "generator": None, "recommender": None}
    assert listed["serving"]["recommender"] == "transactions"
    assert listed["serving"]["router"].endswith("+onnx-int8") and listed["events"] == []
    assert "path" not in listed["models"][0], "no server paths leave the server"

    refused = await client.post(f"/api/models/{registered.shuffled}/deploy", headers=admin, json={})
    assert refused.status == 409
    assert "fails the gate" in (await refused.json())["error"]["message"]
    gate = await (await client.post(f"/api/models/{registered.shuffled}/evaluate", headers=admin)).json()
    assert gate["passed"] is False

    missing = await client.get("/api/models/router-20200101-000000-abcdef", headers=admin)
    assert missing.status == 404
    bad = await client.post(f"/api/models/{registered.good}/replay", headers=admin, json={"limit": 0})
    assert bad.status == 400
    extra = await client.post(f"/api/models/{registered.good}/deploy", headers=admin, json={"forse": True})
    assert extra.status == 400
    nothing = await client.post("/api/models/rollback", headers=admin)
    assert nothing.status == 409


async def test_a_deploy_and_a_rollback_swap_the_router_under_load_without_a_failed_turn(
    aiohttp_client: Any, lifecycle_settings: Settings, registered: Registered
) -> None:
    client = await aiohttp_client(create_app(lifecycle_settings))
    admin = await sign_in(client, client.app, "root", Role.ADMIN)
    seed = (await (await client.get("/api/models", headers=admin)).json())["serving"]["router"]
    for i, q in enumerate(QUESTIONS):
        assert await _chat(client, f"before-{i}", q) == 200
    replayed = await client.post(f"/api/models/{registered.good}/replay", headers=admin, json={"limit": 100})
    assert replayed.status == 200
    assert (await replayed.json())["messages"] >= len(QUESTIONS)

    stop, statuses = asyncio.Event(), list[int]()
    load = [asyncio.create_task(_load(client, stop, statuses, w)) for w in range(8)]
    await asyncio.sleep(1.0)
    deployed = await client.post(f"/api/models/{registered.good}/deploy", headers=admin)
    assert deployed.status == 200, await deployed.text()
    body = await deployed.json()
    assert body["serving"] == f"{registered.good}+onnx-int8"
    assert body["event"]["actor"] == "root" and body["event"]["metrics"]["passed"] is True
    await asyncio.sleep(1.0)
    rolled = await client.post("/api/models/rollback", headers=admin)
    assert rolled.status == 200, await rolled.text()
    seed_version = (await rolled.json())["event"]["version"]
    assert (await rolled.json())["serving"] == f"{seed_version}+onnx-int8"
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*load)

    assert len(statuses) > 50 and set(statuses) == {200}, "no turn failed across both swaps"
    await client.app[SINK].flush()
    served = [r.versions["router"] for r in TurnLog(client.app[ENGINE]).records()]
    assert served[0] == seed
    # In order: the seed, then the deployed version, then the seed again (now registered).
    # Turns log in start order, and turns in flight at a swap may finish either side of it: the
    # versions are checked in the order they first answered, and the last turns on the last one.
    assert list(dict.fromkeys(served)) == [seed, f"{registered.good}+onnx-int8", f"{seed_version}+onnx-int8"]
    assert served[-1] == f"{seed_version}+onnx-int8"
    assert sum(v == f"{registered.good}+onnx-int8" for v in served) > 5

    detail = await (await client.get(f"/api/models/{registered.good}", headers=admin)).json()
    assert detail["state"] == "retired"
    assert detail["metrics"]["evaluation"]["passed"] is True and "replay" in detail["metrics"]
    metrics = await (await client.get("/metrics")).text()
    assert f'shopbot_model_live_info{{kind="router",version="{seed_version}"}} 1.0' in metrics
    assert 'shopbot_model_swaps_total{action="rollback",kind="router"} 1.0' in metrics


async def test_one_model_operation_at_a_time_per_worker(
    aiohttp_client: Any, lifecycle_settings: Settings, registered: Registered
) -> None:
    client = await aiohttp_client(create_app(lifecycle_settings))
    admin = await sign_in(client, client.app, "root", Role.ADMIN)
    # The gate runs as a job in a child process for seconds; the second request arrives meanwhile.
    first = asyncio.create_task(client.post(f"/api/models/{registered.good}/evaluate", headers=admin))
    jobs = feature_app(client.app, "/api/models")[JOBS]
    await until(lambda: jobs.running, timeout_s=30, what="the first job to start")
    second = await client.post(f"/api/models/{registered.shuffled}/evaluate", headers=admin)
    assert second.status == 409 and "another model operation" in (await second.json())["error"]["message"]
    rollback = await client.post("/api/models/rollback", headers=admin)
    assert rollback.status == 409, "a rollback waits its turn too"
    done = await first
    assert done.status == 200 and (await done.json())["passed"] is True
