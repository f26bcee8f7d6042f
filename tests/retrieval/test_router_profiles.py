"""The accurate router profile: trained with its mpnet head, served as one ensemble, versioned apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.errors import BadRequest, NotReady
from core.settings import Settings
from retrieval.encoded import TurnEncoder
from retrieval.ensemble_encoder import EnsembleTurnEncoder
from retrieval.knowledge import KnowledgeEntry
from retrieval.knowledge_base import load_entries
from retrieval.router import RouterConfig, load_saved
from retrieval.router_ensemble import HEAD_FILE
from retrieval.router_train import is_current, router_version, train_router
from retrieval.turn_encoder import OnnxTurnEncoder, profile_of, turn_encoder
from tests.conftest import ROUTER_CONFIG

ACCURATE = ROUTER_CONFIG.for_profile("accurate")
OFF_TOPIC = ["what is the capital of peru", "how do I change a car tyre", "write me a poem about the sea"]


@pytest.mark.timeout(900)
def test_training_saves_the_head_the_scale_and_a_version_of_its_own(
    built_var: Path, accurate_router: Path
) -> None:
    settings = Settings(var_dir=built_var)
    entries = load_entries(settings.faq_path, settings.intents_path)
    saved = load_saved(accurate_router)
    assert saved.config["profile"] == "accurate" and profile_of(accurate_router) == "accurate"
    ensemble = saved.calibration["ensemble"]
    assert ensemble["minilm_sd"] > 0 and ensemble["mpnet_sd"] > 0 and ensemble["neighbours_sd"] > 0
    assert saved.calibration["second_encoder"].startswith("all-mpnet-base-v2@")
    assert "threshold" in saved.calibration["minilm_alone"], "the MiniLM-only calibration is kept beside it"
    with np.load(accurate_router / HEAD_FILE) as head:
        assert head["weight"].shape == (len(saved.labels), 768) and head["bias"].shape == (len(saved.labels),)
        # The neighbours are the in-scope phrasings: out_of_scope's examples are not among them.
        in_scope = {q for e in entries if e.id != "out_of_scope" for q in e.questions}
        assert head["bank"].shape == (len(in_scope), 768)
        np.testing.assert_allclose(np.linalg.norm(head["bank"].astype(np.float32), axis=1), 1.0, atol=2e-3)
    # The profile is part of the version: the same knowledge and config, two versions.
    assert saved.version == router_version(entries, ACCURATE) != router_version(entries, ROUTER_CONFIG)
    assert is_current(accurate_router, entries, "accurate") and is_current(accurate_router, entries)
    assert not is_current(accurate_router, entries, "fast")
    assert not is_current(settings.router_dir, entries, "accurate"), "a fast router is no accurate one"


def test_a_fast_routers_version_is_what_it_was_before_profiles() -> None:
    # Fast routers saved before profiles existed stay current: the profile is left out of their config.
    assert "profile" not in RouterConfig().to_json()
    assert RouterConfig().to_json() == {k: v for k, v in RouterConfig().__dict__.items() if k != "profile"}
    assert RouterConfig(profile="accurate").to_json()["profile"] == "accurate"


@pytest.fixture
def entries(built_var: Path) -> list[KnowledgeEntry]:
    settings = Settings(var_dir=built_var)
    return load_entries(settings.faq_path, settings.intents_path)


@pytest.fixture
def served(accurate_router: Path, mpnet_export: Path) -> TurnEncoder:
    """The accurate router's turn encoder as the server builds it (default backend)."""
    return turn_encoder("onnx-int8", accurate_router, mpnet_dir=mpnet_export)


@pytest.mark.timeout(900)
def test_the_ensemble_routes_declines_and_keeps_miniLMs_retrieval_embedding(
    entries: list[KnowledgeEntry], served: TurnEncoder, accurate_router: Path
) -> None:
    assert isinstance(served, EnsembleTurnEncoder)
    # MiniLM's graph is fp32 in this profile (batch-independent decisions), mpnet's int8.
    assert "+onnx-fp32+all-mpnet-base-v2@" in served.version and served.version.endswith("+int8")
    # Phrasings it was trained on go to their own entry.
    known = [(e.questions[0], e.id) for e in entries if e.id != "out_of_scope"][:20]
    routed = served.run([t for t, _ in known] + OFF_TOPIC)
    right = sum(r.routed.label == label for r, (_, label) in zip(routed, known, strict=False))
    assert right >= 18, [(t, r.routed.label) for r, (t, _) in zip(routed, known, strict=False)]
    assert all(r.routed.label is None for r in routed[len(known):]), [r.routed for r in routed[len(known):]]
    # Retrieval searches the same MiniLM embedding whichever profile routes.
    minilm = OnnxTurnEncoder(accurate_router, int8=False).run([t for t, _ in known] + OFF_TOPIC)
    for a, b in zip(minilm, routed, strict=True):
        np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)


@pytest.mark.timeout(900)
def test_the_accurate_profiles_decisions_do_not_depend_on_the_batch(
    entries: list[KnowledgeEntry], served: TurnEncoder
) -> None:
    # The server batches concurrent shoppers' messages: each must be decided as it is alone.
    texts = [q for e in entries for q in e.questions[:1]][:24] + OFF_TOPIC
    batched = served.run(texts)
    alone = [served.run([t])[0] for t in texts]
    for text, b, a in zip(texts, batched, alone, strict=True):
        assert (b.routed.label, b.routed.top_label) == (a.routed.label, a.routed.top_label), text
        assert b.routed.confidence == pytest.approx(a.routed.confidence, abs=1e-4), text
        np.testing.assert_allclose(b.vector, a.vector, atol=1e-5)


def test_an_accurate_router_needs_its_encoder(accurate_router: Path, built_var: Path) -> None:
    with pytest.raises(NotReady, match="all-mpnet-base-v2"):
        turn_encoder("onnx-int8", accurate_router)
    settings = Settings(var_dir=built_var)
    entries = load_entries(settings.faq_path, settings.intents_path)
    with pytest.raises(BadRequest, match="second encoder"):
        train_router(entries, built_var / "never", config=ACCURATE, progress=False)
    with pytest.raises(BadRequest, match="unknown router profile"):
        train_router(entries, built_var / "never", config=replace(ROUTER_CONFIG, profile="turbo"),
                     progress=False)
    assert not (built_var / "never").exists()
