"""The issue's path from a terminal: chats and verdicts, then evaluate, replay, deploy and roll
back a running server.

A real ``shopbot run`` serves shoppers from eight concurrent clients while ``shopbot deploy``
and ``shopbot rollback``, separate processes, change the live version in the database; the
server swaps on its own and no request fails.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from functools import partial
from pathlib import Path

import aiohttp

from core.db import make_engine
from harness.polling import until
from harness.server_process import SHOPBOT, ShopbotProcess
from monitoring.reviews import ReviewStore, Verdict
from monitoring.turnlog import TurnLog
from tests.registry import Registered

QUESTIONS = ["how long does delivery take", "can I return a gift", "what is the weather on mars",
             "do you sell lunch boxes", "hi there", "I'd like to talk to a person"]


def _cli(server: ShopbotProcess, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SHOPBOT), *argv], env=server.env, capture_output=True, text=True, timeout=600)


async def _load(server: ShopbotProcess, stop: asyncio.Event, statuses: list[int], worker: int) -> None:
    async with aiohttp.ClientSession(server.base) as session:
        n = 0
        while not stop.is_set():
            body = {"sender": f"shopper-{worker}-{n // 3}", "message": QUESTIONS[n % len(QUESTIONS)]}
            async with session.post("/webhooks/rest/webhook", json=body) as resp:
                await resp.read()
                statuses.append(resp.status)
            n += 1


def _served(database: Path) -> list[str]:
    engine = make_engine(f"sqlite:///{database}")
    try:
        return [r.versions.get("router", "") for r in TurnLog(engine).records()]
    finally:
        engine.dispose()


def _answered_by(database: Path, version: str) -> bool:
    return any(v.startswith(version + "+") for v in _served(database))


async def test_cli_deploy_and_rollback_swap_a_running_server_with_zero_failed_turns(
    built_var: Path, registered: Registered, tmp_path: Path
) -> None:
    database = tmp_path / "turns.sqlite3"
    shutil.copy(registered.database, database)
    server = ShopbotProcess(built_var, f"sqlite:///{database}", {
        "SHOPBOT_MODELS_DIR": str(registered.models_dir),
        "SHOPBOT_JOURNAL_DIR": str(tmp_path / "journal"),
        "SHOPBOT_MODEL_CHECK_EVERY_S": "0.5",
    })
    await server.start()
    try:
        async with aiohttp.ClientSession(server.base) as session:
            for i, q in enumerate(QUESTIONS):
                body = {"sender": f"s{i}", "message": q}
                async with session.post("/webhooks/rest/webhook", json=body) as r:
                    assert r.status == 200

        # A few auditor verdicts: the gold set the gate judges candidates on.
        await until(lambda: len(_served(database)) >= len(QUESTIONS), timeout_s=30, interval_s=0.3,
                    what="the turns in the turn log")
        engine = make_engine(f"sqlite:///{database}")
        turn_ids = [r.turn_id for r in TurnLog(engine).records()]
        for turn_id in turn_ids:
            assert ReviewStore(engine).add_review(turn_id, Verdict.CORRECT, "ann") is not None
        engine.dispose()

        # The candidates were trained beforehand (tests/registry.py; `shopbot train` itself:
        # tests/bot/test_cli_router.py): none is live, the seed router serves.
        listed = json.loads(_cli(server, "models", "--json").stdout)
        states = {m["version"]: m["state"] for m in listed["models"]}
        assert states == {registered.good: "candidate", registered.shuffled: "candidate"}

        passed = _cli(server, "evaluate", "--candidate", registered.good, "--json")
        assert passed.returncode == 0, passed.stderr
        gate = json.loads(passed.stdout)
        assert gate["passed"] is True and gate["gold_cases"] == len(QUESTIONS)
        refused = _cli(server, "deploy", registered.shuffled)
        assert refused.returncode == 2 and "fails the gate" in refused.stderr
        replayed = _cli(server, "replay", "--candidate", registered.good, "--json")
        assert replayed.returncode == 0, replayed.stderr
        assert json.loads(replayed.stdout)["messages"] >= len(QUESTIONS)

        stop, statuses = asyncio.Event(), list[int]()
        load = [asyncio.create_task(_load(server, stop, statuses, w)) for w in range(8)]
        await asyncio.sleep(1.0)
        deployed = await asyncio.to_thread(_cli, server, "deploy", registered.good, "--by", "ann")
        assert deployed.returncode == 0, deployed.stderr
        await until(partial(_answered_by, database, registered.good), timeout_s=60, interval_s=0.5,
                    what=f"{registered.good} answering a turn")
        rolled = await asyncio.to_thread(_cli, server, "rollback", "--by", "bob")
        assert rolled.returncode == 0, rolled.stderr
        history = json.loads(_cli(server, "models", "--json").stdout)["events"]
        seed_version = history[0]["version"]
        assert [(e["action"], e["actor"]) for e in history] == [("rollback", "bob"), ("deploy", "ann")]
        assert history[1]["previous"] == seed_version, "the first deploy replaced the seed router"
        await until(partial(_answered_by, database, seed_version), timeout_s=60, interval_s=0.5,
                    what=f"{seed_version} answering a turn again")
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*load)
    finally:
        server.stop()

    assert len(statuses) > 50 and set(statuses) == {200}, "no turn failed in the deploy or the rollback"
    served = _served(database)
    # In the order they first answered (turns in flight at a swap may log either side of it).
    first = list(dict.fromkeys(served))
    assert first[1:] == [f"{registered.good}+onnx-int8", f"{seed_version}+onnx-int8"]
    assert not first[0].startswith("router-"), "the seed router served first"
    assert served[-1] == f"{seed_version}+onnx-int8"
