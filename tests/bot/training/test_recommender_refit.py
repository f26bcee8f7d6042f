"""Recommender versions: refit on an order history, gated, deployed, rolled back, served.

The history is an eighth of the UCI sample's customers (about 3,400 sales lines, 267 repeat
customers held out): a refit, gate included, takes well under a second.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from actions.orders.demo import DemoOrders
from actions.recommender import PREVIOUS_CONFIG, Recommender, RecommenderConfig, Sale, read_sales
from actions.recommender_store import FILE_NAME, META_NAME, load_version
from actions.services import ShopServices
from bot.lifecycle.artifacts import MANIFEST
from bot.lifecycle.recommender import live_recommender, load_recommender, recommender_follower
from bot.lifecycle.registry import ModelAction, ModelKind, ModelRegistry, ModelState
from bot.serving.schema import create_tables
from bot.training.commands import cmd_deploy, cmd_models, cmd_rollback
from bot.training.recommender_gate import RecommenderGateThresholds, gate_recommender
from bot.training.recommender_refit import data_hash, deploy_recommender, refit_recommender
from bot.training.shop_commands import cmd_refit_recommender
from core.db import make_engine
from core.errors import Conflict, NotReady
from core.settings import REPO_ROOT, Settings
from monitoring.metrics import ShopbotMetrics

REAL_CSV = REPO_ROOT / "data" / "online_retail" / "transactions.csv"
VERSION = re.compile(r"recommender-\d{8}-\d{6}-[0-9a-f]{6}")
# Every blend part off: recommends nothing to a known customer.
NOTHING = RecommenderConfig(own_weight=0.0, ease_weight=0.0, content_weight=0.0, code_weight=0.0,
                            popular_weight=0.0)


class ListHistory:
    """An order history held in memory (the protocol asks no more)."""

    def __init__(self, sales: Sequence[Sale], name: str = "test:sample") -> None:
        self._sales = list(sales)
        self.name = name

    def sales(self) -> list[Sale]:
        return list(self._sales)


@pytest.fixture(scope="module")
def sample() -> list[Sale]:
    sales = read_sales(REAL_CSV)
    customers = sorted({s.customer_id for s in sales if s.customer_id})
    keep = set(customers[::8])
    return [s for s in sales if s.customer_id in keep]


@pytest.fixture
def history(sample: list[Sale]) -> ListHistory:
    return ListHistory(sample)


@pytest.fixture
def catalogue(sample: list[Sale]) -> set[str]:
    return {s.stock_code for s in sample}


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    create_tables(engine)
    return ModelRegistry(engine, tmp_path / "models")


def shuffled(sales: Sequence[Sale], seed: int = 0) -> list[Sale]:
    """The same lines with their products shuffled: a broken export, nothing to learn."""
    codes = [s.stock_code for s in sales]
    random.Random(seed).shuffle(codes)
    return [replace(s, stock_code=c) for s, c in zip(sales, codes, strict=True)]


def test_a_refit_is_fitted_gated_and_deployed(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], sample: list[Sale]
) -> None:
    result = refit_recommender(registry, history, catalogue)

    assert result.deployed and result.skipped is None
    assert result.version is not None and VERSION.fullmatch(result.version.version)
    version = registry.get(result.version.version)
    assert version.state is ModelState.LIVE and version.kind is ModelKind.RECOMMENDER
    assert version.data_hash == data_hash(sample, catalogue)
    assert version.settings["history"] == "test:sample"
    assert version.metrics["training"]["sales"] == len(sample)
    report = version.metrics["evaluation"]
    assert report["passed"] and report["live"] == "seed"
    assert report["held_out_customers"] >= 100
    # Judged against the seed's (default) config on the same data: nothing lost, popularity beaten.
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["recall_at_10"]["drop_points"] == 0.0
    figures = report["metrics"]
    assert figures["candidate"]["recall_at_10"] > 2 * figures["popularity"]["recall_at_10"]
    [event] = registry.events(ModelKind.RECOMMENDER)
    assert (event.version, event.action, event.actor, event.previous, event.forced) == (
        version.version, ModelAction.DEPLOY, "schedule", None, False)
    assert event.metrics["passed"] is True

    # What is served is the fit of the whole history, from plain arrays checked against the manifest.
    assert {p.name for p in version.path.iterdir()} == {FILE_NAME, META_NAME, MANIFEST}
    with np.load(version.path / FILE_NAME, allow_pickle=False) as stored:
        assert all(stored[name].dtype != object for name in stored.files)
    name, served = live_recommender(registry) or ("", Recommender())
    fresh = Recommender().fit(sample)
    assert name == version.version
    assert list(served.codes) == list(fresh.codes)
    for customer in sorted(fresh.customers)[::50]:
        assert served.for_customer(customer, 10) == fresh.for_customer(customer, 10)


def test_the_catalogue_restricts_the_sales_and_changes_the_data_hash(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], sample: list[Sale]
) -> None:
    smaller = set(sorted(catalogue)[: len(catalogue) // 2])
    assert data_hash(sample, smaller) != data_hash(sample, catalogue)
    assert data_hash(sample[1:], catalogue) != data_hash(sample, catalogue)
    result = refit_recommender(registry, history, smaller, deploy=False)
    assert result.version is not None and not result.deployed
    assert set(load_version(result.version.path).codes) <= smaller
    with pytest.raises(NotReady, match="no sales"):
        refit_recommender(registry, history, {"NOT-SOLD"})


@pytest.mark.parametrize(("config", "broken", "failing"), [
    (NOTHING, False, {"recall_at_10", "ndcg_at_10", "beats_popularity"}),
    # Popularity itself: no better than the baseline it must beat.
    (replace(NOTHING, popular_weight=1.0, popular_half_life_days=0.0), False,
     {"recall_at_10", "beats_popularity"}),
    # The default blend on a history whose products were shuffled.
    (RecommenderConfig(), True, {"beats_popularity"}),
])
def test_a_bad_candidate_fails_the_gate_and_the_live_one_stays(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], sample: list[Sale],
    config: RecommenderConfig, broken: bool, failing: set[str], caplog: pytest.LogCaptureFixture,
) -> None:
    good = refit_recommender(registry, history, catalogue)
    assert good.version is not None and good.deployed
    source = ListHistory(shuffled(sample), "test:shuffled") if broken else history

    with caplog.at_level(logging.WARNING, logger="bot.training.recommender_refit"):
        bad = refit_recommender(registry, source, catalogue, config=config)

    assert bad.version is not None and not bad.deployed and bad.report is not None
    assert not bad.report["passed"]
    assert {c["name"] for c in bad.report["checks"] if not c["passed"]} >= failing
    stored = registry.get(bad.version.version)
    assert stored.state is ModelState.CANDIDATE
    assert stored.metrics["evaluation"]["passed"] is False
    assert stored.metrics["evaluation"]["live"] == good.version.version
    live = registry.live(ModelKind.RECOMMENDER)
    assert live is not None and live.version == good.version.version
    assert len(registry.events(ModelKind.RECOMMENDER)) == 1
    assert "fails the gate" in caplog.text and "recall_at_10" in caplog.text
    with pytest.raises(Conflict, match="fails the gate"):
        deploy_recommender(registry, bad.version.version, actor="ann")
    forced = deploy_recommender(registry, bad.version.version, actor="ann", force=True)
    assert forced.forced and forced.previous == good.version.version


def test_the_tolerance_decides_how_much_a_config_may_lose(sample: list[Sale]) -> None:
    loose = gate_recommender(sample, PREVIOUS_CONFIG, RecommenderConfig(),
                             RecommenderGateThresholds(max_recall_drop=100, max_ndcg_drop=100),
                             names=("previous", "shipped"))
    drop = {c["name"]: c for c in loose["checks"]}["recall_at_10"]["drop_points"]
    assert drop > 0, "the previous blend is worse than the shipped one on this history too"
    assert loose["passed"]
    tight = gate_recommender(sample, PREVIOUS_CONFIG, RecommenderConfig(),
                             RecommenderGateThresholds(max_recall_drop=drop / 2),
                             names=("previous", "shipped"))
    assert not tight["passed"]
    assert [c["name"] for c in tight["checks"] if not c["passed"]][0] == "recall_at_10"
    few = gate_recommender(sample, RecommenderConfig(), RecommenderConfig(),
                           RecommenderGateThresholds(min_customers=10_000), names=("a", "b"))
    assert [c["name"] for c in few["checks"] if not c["passed"]] == ["held_out_customers"]


def test_unchanged_data_is_not_refitted_and_a_rollback_stands(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], sample: list[Sale]
) -> None:
    first = refit_recommender(registry, history, catalogue)
    again = refit_recommender(registry, history, catalogue)
    assert again.skipped and "is live" in again.skipped and not again.deployed
    assert len(registry.versions(ModelKind.RECOMMENDER)) == 1

    newer = ListHistory(sample[: len(sample) - 200], "test:older")
    second = refit_recommender(registry, newer, catalogue, actor="ann")
    assert first.version is not None and second.version is not None and second.deployed
    assert second.event is not None and second.event.previous == first.version.version

    back = registry.roll_back(ModelKind.RECOMMENDER, actor="ann")
    assert (back.version, back.action, back.previous) == (
        first.version.version, ModelAction.ROLLBACK, second.version.version)
    # The schedule does not undo the rollback while the data is what it rolled away from.
    after = refit_recommender(registry, newer, catalogue)
    assert after.skipped and "rolled back" in after.skipped
    live = registry.live(ModelKind.RECOMMENDER)
    assert live is not None and live.version == first.version.version


def test_a_gated_candidate_deploys_on_its_verdict_while_that_is_current(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], sample: list[Sale]
) -> None:
    a = refit_recommender(registry, history, catalogue, deploy=False)
    b = refit_recommender(registry, ListHistory(sample[100:]), catalogue, deploy=False)
    assert a.version is not None and b.version is not None
    assert a.report is not None and a.report["passed"] and not a.deployed
    event = deploy_recommender(registry, a.version.version, actor="ann")
    assert (event.version, event.actor, event.forced) == (a.version.version, "ann", False)
    # b was judged against the seed; a is live now.
    with pytest.raises(Conflict, match="judged against seed"):
        deploy_recommender(registry, b.version.version, actor="ann")
    regated = refit_recommender(registry, ListHistory(sample[100:]), catalogue, actor="ann")
    assert regated.version is not None and regated.version.version == b.version.version
    assert regated.deployed, "the same candidate, gated again against the live one, not refitted"


def test_a_tampered_version_is_refused_everywhere(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], sample: list[Sale]
) -> None:
    result = refit_recommender(registry, history, catalogue, deploy=False)
    assert result.version is not None
    version = registry.get(result.version.version)
    load_recommender(registry, version)  # whole: loads
    arrays = version.path / FILE_NAME
    data = bytearray(arrays.read_bytes())
    data[len(data) // 2] ^= 0xFF
    arrays.write_bytes(bytes(data))

    with pytest.raises(NotReady, match="does not match its manifest"):
        load_recommender(registry, version)
    with pytest.raises(NotReady):
        deploy_recommender(registry, version.version, actor="ann", force=True)
    with pytest.raises(NotReady):
        refit_recommender(registry, history, catalogue)  # the same data: gates that candidate
    assert registry.live(ModelKind.RECOMMENDER) is None

    (version.path / META_NAME).write_text('{"format": 1, "config": {"bogus": 1}}')
    with pytest.raises(NotReady, match="unknown to this code"):
        load_version(version.path)


def _services(model: Recommender) -> ShopServices:
    return ShopServices(model, {}, {}, {}, DemoOrders({}))


async def test_workers_swap_to_deploys_and_rollbacks_and_refuse_a_damaged_version(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], sample: list[Sale]
) -> None:
    seed = Recommender(RecommenderConfig(popular_weight=0.0)).fit(sample[:500])
    services = _services(seed)
    follower = recommender_follower(registry, services, ShopbotMetrics(), check_every_s=60)
    assert not await follower.refresh(), "nothing deployed: the seed keeps serving"
    assert services.recommender is seed

    first = refit_recommender(registry, history, catalogue)
    assert first.version is not None
    assert await follower.refresh()
    assert services.recommender_version == first.version.version
    assert list(services.recommender.codes) == list(load_version(first.version.path).codes)

    second = refit_recommender(registry, ListHistory(sample[:-300]), catalogue)
    assert second.version is not None and second.deployed
    (second.version.path / FILE_NAME).write_bytes(b"not the fitted arrays")
    assert not await follower.refresh(), "a damaged version is not swapped in"
    assert services.recommender_version == first.version.version

    registry.roll_back(ModelKind.RECOMMENDER, actor="ann")
    assert not await follower.refresh(), "the version served now is live again: nothing to swap"
    assert services.recommender_version == first.version.version


def test_shop_services_start_on_the_live_version_and_fall_back_when_it_is_damaged(
    registry: ModelRegistry, history: ListHistory, catalogue: set[str], tmp_path: Path
) -> None:
    from tests.actions.conftest import write_shop, write_transactions

    shop_dir = write_shop(tmp_path / "shop")
    csv_path = write_transactions(tmp_path / "transactions.csv")
    plain = ShopServices.load(shop_dir, csv_path)
    assert plain.recommender_version is None

    result = refit_recommender(registry, history, catalogue)
    assert result.version is not None
    served = ShopServices.load(shop_dir, csv_path, live_recommender=lambda: live_recommender(registry))
    assert served.recommender_version == result.version.version
    assert len(served.recommender.codes) > len(plain.recommender.codes)

    (result.version.path / FILE_NAME).write_bytes(b"damaged")
    fallback = ShopServices.load(shop_dir, csv_path, live_recommender=lambda: live_recommender(registry))
    assert fallback.recommender_version is None
    assert list(fallback.recommender.codes) == list(plain.recommender.codes)


def test_the_commands_refit_list_deploy_and_roll_back_recommenders(
    tmp_path: Path, sample: list[Sale], capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "orders.jsonl"
    export.write_text("".join(json.dumps({
        "invoice": s.invoice, "stock_code": s.stock_code, "customer_id": s.customer_id,
        "quantity": s.quantity, "date": s.date, "description": s.description}) + "\n"
        for s in sample), encoding="utf-8")
    settings = Settings(var_dir=tmp_path / "var", transactions_csv=REAL_CSV)

    def refit(history: Path, **flags: object) -> int:
        args = {"history": history, "deploy": True, "force": False, "by": "cron", "json": True,
                **flags}
        return cmd_refit_recommender(settings, argparse.Namespace(**args))

    assert refit(export) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["event"]["actor"] == "cron" and first["report"]["passed"]
    assert first["version"]["settings"]["history"] == f"jsonl:{export}"
    shorter = tmp_path / "shorter.jsonl"
    shorter.write_text("".join(export.read_text().splitlines(keepends=True)[:-100]))
    assert refit(shorter, deploy=False, json=False) == 0
    assert "gate passed: shopbot deploy recommender-" in capsys.readouterr().out
    candidate = next(m for m in _listed(settings, capsys) if m["state"] == "candidate")

    assert cmd_deploy(settings, argparse.Namespace(version=candidate["version"], by="ann",
                                                   force=False)) == 0
    assert f"{candidate['version']} is live (was {first['version']['version']}" in \
        capsys.readouterr().out
    assert cmd_rollback(settings, argparse.Namespace(kind="recommender", by="ann")) == 0
    assert f"rolled back to {first['version']['version']}" in capsys.readouterr().out
    assert cmd_models(settings, argparse.Namespace(json=False)) == 0
    listing = capsys.readouterr().out
    assert "held-out recall@10" in listing and "gate passed" in listing and "rollback" in listing

    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(json.dumps({
        "invoice": s.invoice, "stock_code": c, "customer_id": s.customer_id,
        "quantity": s.quantity, "date": s.date}) + "\n"
        for s, c in zip(sample, [x.stock_code for x in shuffled(sample)], strict=True)))
    assert refit(broken, json=False) == 1, "a refused candidate is an exit status a schedule sees"
    assert "gate FAILED (beats_popularity)" in capsys.readouterr().out


def _listed(settings: Settings, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    assert cmd_models(settings, argparse.Namespace(json=True)) == 0
    models: list[dict[str, object]] = json.loads(capsys.readouterr().out)["models"]
    return models
