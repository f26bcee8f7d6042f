"""The gate, the replay, deploy and rollback on real routers over the real shop (the CLI's path)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.lifecycle.registry import ModelAction, ModelKind, ModelState
from bot.training.assemble import open_lifecycle
from bot.training.lifecycle import ModelLifecycle
from core.errors import Conflict
from core.settings import Settings
from monitoring.reviews import ReviewStore, Verdict
from monitoring.turnlog import TurnLog
from tests.registry import Registered
from tests.turns import turn

ON_TOPIC = ["how long does delivery take to the uk", "can I send something back",
            "what are your opening hours", "do you deliver for free", "hello there",
            "I want to speak to a person"]
OFF_TOPIC = ["what is the capital of peru", "how do I change a car tyre", "who won the football last night",
             "write me a poem about the sea"]


@pytest.fixture
def lifecycle(lifecycle_settings: Settings) -> Iterator[ModelLifecycle]:
    with open_lifecycle(lifecycle_settings) as ops:
        yield ops


def _log_and_review(ops: ModelLifecycle, texts: list[str]) -> None:
    """Log the texts as the live router routes them, and mark each turn correct (the gold set)."""
    _, live_dir = ops.serving()
    routed = ops.router(live_dir).run(texts)
    engine = ops.registry.engine
    start = datetime.now(UTC) - timedelta(minutes=len(texts))
    records = []
    for i, (text, r) in enumerate(zip(texts, routed, strict=True)):
        record = turn(f"t{i}", i, text=text, route=r.route)
        records.append(type(record)(**{**record.__dict__, "ts": start + timedelta(minutes=i),
                                        "metadata": {"label": r.label, "confidence": r.confidence}}))
    TurnLog(engine).write(records)
    for record in records:
        ReviewStore(engine).add_review(record.turn_id, Verdict.CORRECT, "ann")


def test_the_gate_passes_a_sound_candidate_and_refuses_shuffled_labels(
    lifecycle: ModelLifecycle, registered: Registered
) -> None:
    _log_and_review(lifecycle, ON_TOPIC + OFF_TOPIC)

    good = lifecycle.evaluate(registered.good)
    assert good["passed"], good
    assert good["gold_cases"] == len(ON_TOPIC + OFF_TOPIC)
    assert good["live"].startswith("seed:")
    by_name = {c["name"]: c for c in good["checks"]}
    # The seed's weights under a new version: the same figures, nothing lost.
    assert by_name["gold_accuracy"]["candidate"] == by_name["gold_accuracy"]["live"] == 1.0
    assert by_name["held_out_accuracy"]["drop_points"] == 0.0

    bad = lifecycle.evaluate(registered.shuffled)
    assert not bad["passed"]
    failed = {c["name"] for c in bad["checks"] if not c["passed"]}
    assert {"gold_accuracy", "held_out_accuracy"} <= failed
    assert bad["metrics"]["candidate"]["held_out_accuracy"] < 0.3
    assert bad["failures"], "the report shows which reviewed turns it gets wrong"
    assert lifecycle.registry.get(registered.shuffled).metrics["evaluation"]["passed"] is False

    with pytest.raises(Conflict, match="fails the gate"):
        lifecycle.deploy(registered.shuffled, actor="ann")
    assert lifecycle.registry.live(ModelKind.ROUTER) is None, "a refused deploy changes nothing"


def test_deploy_and_rollback_record_who_when_and_the_metrics(
    lifecycle: ModelLifecycle, registered: Registered
) -> None:
    first = lifecycle.deploy(registered.good, actor="ann")
    assert (first.version, first.action, first.actor, first.forced) == (
        registered.good, ModelAction.DEPLOY, "ann", False)
    assert first.metrics["passed"] is True
    # The seed router became a version of its own: the rollback target.
    seed = lifecycle.registry.get(str(first.previous))
    assert seed.created_by == "seed" and seed.state is ModelState.RETIRED
    assert lifecycle.serving() == (registered.good, lifecycle.registry.get(registered.good).path)

    forced = lifecycle.deploy(registered.shuffled, actor="bob", force=True)
    assert forced.forced and forced.previous == registered.good and forced.metrics["passed"] is False

    back = lifecycle.rollback(actor="ann")
    assert (back.version, back.previous, back.action) == (
        registered.good, registered.shuffled, ModelAction.ROLLBACK)
    assert lifecycle.serving()[0] == registered.good
    actions = [(e.action, e.version) for e in lifecycle.registry.events()]
    assert actions == [(ModelAction.ROLLBACK, registered.good), (ModelAction.DEPLOY, registered.shuffled),
                       (ModelAction.DEPLOY, registered.good)]


def test_replay_groups_what_a_candidate_would_change(
    lifecycle: ModelLifecycle, registered: Registered
) -> None:
    _log_and_review(lifecycle, ON_TOPIC + OFF_TOPIC)

    same = lifecycle.replay(registered.good)
    assert same["messages"] == len(ON_TOPIC + OFF_TOPIC) and same["changed"] == 0

    report = lifecycle.replay(registered.shuffled, limit=8)
    assert report["messages"] == 8, "the newest 8 messages"
    groups = report["groups"]
    assert set(groups) == {"newly_answered", "newly_declined", "changed_answer"}
    assert report["changed"] == sum(g["count"] for g in groups.values()) > 0
    example = next(ex for g in groups.values() for ex in g["examples"])
    assert example["text"] in ON_TOPIC + OFF_TOPIC
    assert (example["live"]["route"], example["live"]["label"]) != (
        example["candidate"]["route"], example["candidate"]["label"])
    assert example["logged"]["route"] == example["live"]["route"], "live replays what it logged"
    live_rates = report["rates"]["live"]
    assert 0 < live_rates["decline_rate"] < 1 and 0 < live_rates["unfamiliar_share"] < 1
    stored = lifecycle.registry.get(registered.shuffled).metrics["replay"]
    assert stored["rates"] == report["rates"] and "groups" not in stored

    later = lifecycle.replay(registered.shuffled, since=datetime.now(UTC) + timedelta(hours=1))
    assert later["messages"] == 0 and later["changed"] == 0
