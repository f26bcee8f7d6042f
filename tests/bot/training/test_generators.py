"""Generator versions: the gate counts drafts the verifier keeps; a deploy swaps GPT-2 live."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from aiohttp.test_utils import TestClient
from transformers import GPT2Config, GPT2LMHeadModel

from bot.auth.guard import Role
from bot.generation.service import Generation
from bot.generation.versions import checkpoint_version
from bot.lifecycle.registry import ModelKind
from bot.server import create_app
from bot.serving.models import REGISTRY
from bot.serving.turnlog import SINK
from bot.training.corpus import build_corpus
from bot.training.generator import TrainConfig
from bot.training.generator_gate import evaluate_generator, load_probes, reference_answers
from bot.training.lifecycle import train_generator_candidate
from bot.training.scoring import answer_loss
from bot.web.keys import ENGINE
from core.settings import Settings
from core.shop import load_products
from monitoring.turnlog import TurnLog
from retrieval.knowledge import load_knowledge
from tests.signin import sign_in


class _Words:
    """Words the fact sentence it is given, as the verifier wants (stands in for a good GPT-2)."""

    version = "words"

    def warm_up(self) -> None:
        pass

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation:
        return Generation(passages[0], 10, 10, 1.0, False)


class _Invents(_Words):
    """Makes a claim no evidence holds (stands in for a bad GPT-2)."""

    version = "invents"

    def run(self, question: str, passages: Sequence[str], *, max_time_s: float,
            copy_bias: float = 0.0) -> Generation:
        return Generation("It costs £999.99 and ships in 1 hour.", 10, 10, 1.0, False)


def test_the_generator_gate_refuses_a_candidate_whose_drafts_the_verifier_rejects(
    lifecycle_settings: Settings,
) -> None:
    products = {p.stock_code: p for p in load_products(lifecycle_settings.shop_dir)}
    probes = load_probes(lifecycle_settings.gate_product_questions, products, 12)
    assert len(probes) == 12

    worse = evaluate_generator(_Invents(), _Words(), probes, max_drop=5.0, timeout_s=5.0,
                               names=("bad", "live"))
    assert worse["passed"] is False
    assert worse["metrics"]["candidate"]["verified_share"] == 0.0
    assert worse["metrics"]["live"]["verified_share"] == 1.0
    assert worse["checks"][0]["drop_points"] == 100.0

    better = evaluate_generator(_Words(), _Invents(), probes, max_drop=5.0, timeout_s=5.0,
                                names=("good", "live"))
    assert better["passed"] is True and better["checks"][0]["drop_points"] == -100.0


def test_the_generator_gate_refuses_a_checkpoint_that_learnt_nothing(
    lifecycle_settings: Settings, tmp_path: Path
) -> None:
    # The shop's GPT-2 architecture with random weights: what a broken training would publish.
    seed = lifecycle_settings.generator_dir
    untrained = tmp_path / "untrained"
    shutil.copytree(seed, untrained)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config.from_pretrained(seed)).save_pretrained(untrained)
    products = {p.stock_code: p for p in load_products(lifecycle_settings.shop_dir)}
    probes = load_probes(lifecycle_settings.gate_product_questions, products, 12)
    references = reference_answers(probes)
    trained_loss, untrained_loss = answer_loss(seed, references), answer_loss(untrained, references)
    assert trained_loss + 0.5 < untrained_loss, (trained_loss, untrained_loss)

    # Both word every answer as the verifier wants: only the loss tells them apart.
    worse = evaluate_generator(_Words(), _Words(), probes, max_drop=5.0, timeout_s=5.0,
                               names=("untrained", "live"), losses=(untrained_loss, trained_loss),
                               max_loss_rise=0.5)
    assert worse["passed"] is False
    share, loss = worse["checks"]
    assert share["passed"] is True and share["drop_points"] == 0.0
    assert loss["name"] == "answer_loss" and loss["passed"] is False
    assert loss["drop_points"] == round(untrained_loss - trained_loss, 4)
    assert worse["metrics"]["candidate"]["answer_loss"] == untrained_loss
    better = evaluate_generator(_Words(), _Words(), probes, max_drop=5.0, timeout_s=5.0,
                                names=("trained", "live"), losses=(trained_loss, untrained_loss),
                                max_loss_rise=0.5)
    assert better["passed"] is True


async def test_a_generator_deploy_swaps_gpt2_under_load_and_rolls_back(
    aiohttp_client: Any, lifecycle_settings: Settings, tmp_path: Path
) -> None:
    client: TestClient = await aiohttp_client(create_app(lifecycle_settings))
    settings = lifecycle_settings
    corpus = build_corpus(load_knowledge(settings.faq_path), load_products(settings.shop_dir)[:200])
    candidate = await asyncio.to_thread(
        train_generator_candidate, client.app[REGISTRY], corpus, config=TrainConfig.tiny(), created_by="test")
    assert candidate.kind is ModelKind.GENERATOR and (candidate.path / "fast").is_dir()
    admin = await sign_in(client, client.app, "root", Role.ADMIN)
    seed = f"seed:{checkpoint_version(settings.generator_dir)}"
    # The gate through the API: both checks, candidate against the seed.
    judged = await client.post(f"/api/models/{candidate.version}/evaluate", headers=admin)
    assert judged.status == 200, await judged.text()
    report = await judged.json()
    assert report["live"] == seed and report["probes"] == 40
    assert [c["name"] for c in report["checks"]] == ["verified_share", "answer_loss"]
    assert all(c["live"] is not None and c["drop_points"] is not None for c in report["checks"])

    stop, statuses = asyncio.Event(), list[int]()

    async def shopper(n: int) -> None:
        i = 0
        while not stop.is_set():
            resp = await client.post("/webhooks/rest/webhook", json={
                "sender": f"g{n}-{i}", "message": "how much is the jumbo bag red retrospot?"})
            await resp.read()
            statuses.append(resp.status)
            i += 1

    load = [asyncio.create_task(shopper(n)) for n in range(4)]
    await asyncio.sleep(1.0)
    deployed = await client.post(f"/api/models/{candidate.version}/deploy", headers=admin,
                                 json={"force": True})
    assert deployed.status == 200, await deployed.text()
    body = await deployed.json()
    assert body["serving"].startswith(candidate.version + "+")
    assert body["event"]["kind"] == "generator"
    await asyncio.sleep(1.0)
    rolled = await client.post("/api/models/rollback", headers=admin, json={"kind": "generator"})
    assert rolled.status == 200, await rolled.text()
    seed_version = (await rolled.json())["event"]["version"]
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*load)

    assert len(statuses) > 10 and set(statuses) == {200}
    await client.app[SINK].flush()
    served = [r.versions["generator"] for r in TurnLog(client.app[ENGINE]).records()]
    # In the order they first answered (turns in flight at a swap may log either side of it).
    assert list(dict.fromkeys(served)) == [seed.removeprefix("seed:") + "+onnx-int8",
                                           f"{candidate.version}+onnx-int8", f"{seed_version}+onnx-int8"]
    assert served[-1] == f"{seed_version}+onnx-int8"
    listed = await (await client.get("/api/models", headers=admin)).json()
    assert listed["live"]["generator"] == seed_version
    assert listed["serving"]["generator"] == f"{seed_version}+onnx-int8"
