"""The accurate profile through the product: the server answers with it, the registry deploys it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.lifecycle.artifacts import copy_into
from bot.lifecycle.registry import ModelKind
from bot.server import create_app
from bot.serving.models import UNDERSTANDING
from bot.training.assemble import open_lifecycle
from bot.training.lifecycle import ModelLifecycle, data_hash, router_metrics
from core.settings import Settings
from retrieval.ensemble_encoder import EnsembleTurnEncoder
from retrieval.knowledge_base import load_entries
from retrieval.turn_encoder import turn_encoder
from tests.bot.channels.test_rest import logged, say
from tests.conftest import ROUTER_CONFIG

OFF_TOPIC = ["what's the weather in Paris", "write me a poem about the sea", "what is the capital of peru",
             "how do I change a car tyre", "who won the football last night?"]

pytestmark = pytest.mark.timeout(900)


@pytest.fixture
async def accurate_client(aiohttp_client, shop_settings: Settings, accurate_router: Path,  # type: ignore[no-untyped-def]
                          mpnet_export: Path) -> TestClient:
    settings = shop_settings.model_copy(update={"router_profile": "accurate",
                                                "router_model": str(accurate_router)})
    assert settings.mpnet_dir.resolve() == mpnet_export.resolve()
    return await aiohttp_client(create_app(settings))


async def test_the_accurate_profile_answers_declines_and_logs_its_versions(
    accurate_client: TestClient, accurate_router: Path, mpnet_export: Path
) -> None:
    messages, turn_id = await say(accurate_client, "how long does delivery take?")
    record = await logged(accurate_client, turn_id)
    assert (record.route, record.metadata["label"]) == ("faq", "uk_delivery"), record
    assert "working days" in messages[0]["text"]
    assert "all-mpnet-base-v2@" in record.versions["router"], record.versions
    # Two batches in flight: one's MiniLM pass overlaps the other's mpnet pass.
    assert accurate_client.app[UNDERSTANDING].lanes == 2
    # An off-topic message this router declines (alone or batched: the profile's decisions do not
    # depend on the batch).
    encoder = turn_encoder("onnx-int8", accurate_router, mpnet_dir=mpnet_export)
    off_topic = [t for t in OFF_TOPIC if encoder.run([t])[0].routed.label is None]
    assert off_topic, "the test router declines none of the off-topic messages"
    # A conversation of its own: after a delivery question a place name reads as a follow-up.
    _, declined = await say(accurate_client, off_topic[0], sender="s2")
    record = await logged(accurate_client, declined)
    assert record.route == "decline", (off_topic, record.metadata, record.versions)
    health = await (await accurate_client.get("/health")).json()
    assert "+int8" in health["versions"]["router"]


async def test_the_fast_profile_runs_one_batch_at_a_time(client: TestClient) -> None:
    assert client.app[UNDERSTANDING].lanes == 1
    assert "all-mpnet-base-v2" not in client.app[UNDERSTANDING].understanding.version


@pytest.fixture
def lifecycle(lifecycle_settings: Settings) -> Iterator[ModelLifecycle]:
    with open_lifecycle(lifecycle_settings) as ops:
        yield ops


def test_an_accurate_version_is_gated_deployed_and_rolled_back(
    lifecycle: ModelLifecycle, lifecycle_settings: Settings, accurate_router: Path, mpnet_export: Path
) -> None:
    assert lifecycle_settings.mpnet_dir.resolve() == mpnet_export.resolve()
    entries = load_entries(lifecycle_settings.faq_path, lifecycle_settings.intents_path)
    registry = lifecycle.registry
    staging = registry.staging(ModelKind.ROUTER)
    copy_into(accurate_router, staging)
    accurate = ROUTER_CONFIG.for_profile("accurate")
    version = registry.register(ModelKind.ROUTER, staging, data_hash=data_hash(entries),
                                settings={"router": accurate.to_json()}, metrics=router_metrics(staging),
                                created_by="test")
    assert version.settings["router"]["profile"] == "accurate"
    assert "ensemble" in version.metrics["training"], "the registry keeps the ensemble's calibration"

    report = lifecycle.evaluate(version.version)
    assert report["live"].startswith("seed:")
    assert report["passed"], report["checks"]
    assert isinstance(lifecycle.router(version.path).encoder, EnsembleTurnEncoder)

    lifecycle.deploy(version.version, actor="ann")
    assert lifecycle.serving()[0] == version.version
    back = lifecycle.rollback(actor="ann")
    assert back.version.startswith("seed") or back.version != version.version
    assert lifecycle.serving()[0] != version.version
