"""Versions, states and the deploy history in a real database."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.lifecycle.registry import ModelAction, ModelKind, ModelRegistry, ModelState
from bot.serving.schema import create_tables
from core.db import make_engine
from core.errors import Conflict, NotFound, NotReady


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    create_tables(engine)
    return ModelRegistry(engine, tmp_path / "models")


def _register(registry: ModelRegistry, content: str = "w") -> str:
    staging = registry.staging(ModelKind.ROUTER)
    (staging / "weights.bin").write_text(content)
    return registry.register(ModelKind.ROUTER, staging, data_hash="ab" * 32, settings={"epochs": 3},
                             metrics={"training": {"held_out_accuracy_at_threshold": 0.9}},
                             created_by="test").version


def test_training_registers_a_candidate_that_serves_nothing(registry: ModelRegistry) -> None:
    version = _register(registry)
    found = registry.get(version)
    assert found.state is ModelState.CANDIDATE
    assert found.version.startswith("router-") and found.version.endswith("-ababab")
    assert (found.path / "weights.bin").read_text() == "w"
    registry.verify(found)
    assert registry.live(ModelKind.ROUTER) is None
    assert [v.version for v in registry.versions()] == [version]


def test_two_versions_in_the_same_second_get_distinct_names(registry: ModelRegistry) -> None:
    assert len({_register(registry), _register(registry), _register(registry)}) == 3


def test_deploy_and_rollback_move_the_one_live_version(registry: ModelRegistry) -> None:
    a, b = _register(registry, "a"), _register(registry, "b")
    first = registry.set_live(a, actor="ann", action=ModelAction.DEPLOY)
    assert first.previous is None
    with pytest.raises(Conflict, match="nothing to roll back to"):
        registry.rollback_target(ModelKind.ROUTER)
    second = registry.set_live(b, actor="bob", action=ModelAction.DEPLOY, forced=True,
                               metrics={"passed": False})
    assert (second.previous, second.forced, second.metrics) == (a, True, {"passed": False})
    assert registry.get(a).state is ModelState.RETIRED
    live = registry.live(ModelKind.ROUTER)
    assert live is not None and live.version == b
    assert registry.rollback_target(ModelKind.ROUTER).version == a
    back = registry.set_live(a, actor="ann", action=ModelAction.ROLLBACK)
    assert (back.version, back.previous, back.action) == (a, b, ModelAction.ROLLBACK)
    assert [(e.action, e.version, e.actor) for e in registry.events()] == [
        (ModelAction.ROLLBACK, a, "ann"), (ModelAction.DEPLOY, b, "bob"), (ModelAction.DEPLOY, a, "ann")]
    with pytest.raises(Conflict, match="already live"):
        registry.set_live(a, actor="ann", action=ModelAction.DEPLOY)


def test_racing_deploys_leave_exactly_one_live_version(registry: ModelRegistry) -> None:
    versions = [_register(registry, str(i)) for i in range(6)]
    barrier = threading.Barrier(len(versions))
    outcomes: list[str] = []

    def deploy(version: str) -> None:
        barrier.wait()
        try:
            registry.set_live(version, actor="race", action=ModelAction.DEPLOY)
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=deploy, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    live = [v for v in registry.versions() if v.state is ModelState.LIVE]
    assert len(live) == 1
    assert outcomes.count("ok") == len(registry.events()) >= 1


def test_metrics_merge_and_unknown_versions_are_not_found(registry: ModelRegistry) -> None:
    version = _register(registry)
    updated = registry.update_metrics(version, {"evaluation": {"passed": True}})
    assert updated.metrics == {"training": {"held_out_accuracy_at_threshold": 0.9},
                               "evaluation": {"passed": True}}
    with pytest.raises(NotFound):
        registry.get("router-20260101-000000-000000")


def test_a_damaged_version_does_not_verify(registry: ModelRegistry) -> None:
    found = registry.get(_register(registry))
    (found.path / "weights.bin").write_text("tampered")
    with pytest.raises(NotReady):
        registry.verify(found)


def test_the_first_deploy_replaces_the_seed_registered_retired(registry: ModelRegistry) -> None:
    staging = registry.staging(ModelKind.ROUTER)
    (staging / "weights.bin").write_text("seed")
    seed = registry.register(ModelKind.ROUTER, staging, data_hash="cd" * 32, settings={}, metrics={},
                             created_by="seed", state=ModelState.RETIRED)
    candidate = _register(registry, "new")
    assert registry.live(ModelKind.ROUTER) is None, "the seed is never live by registering it"
    event = registry.set_live(candidate, actor="ann", action=ModelAction.DEPLOY, replaces=seed.version)
    assert event.previous == seed.version
    assert registry.rollback_target(ModelKind.ROUTER).version == seed.version
