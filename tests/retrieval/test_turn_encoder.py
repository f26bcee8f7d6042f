"""The turn encoder: one pass gives the router's decision and the retrieval embedding, on every backend."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from core.errors import NotReady
from core.settings import REPO_ROOT, Settings
from retrieval.embeddings import SentenceEncoder, sentence_encoder
from retrieval.knowledge_base import load_entries, load_knowledge_base
from retrieval.routing import NearestNeighbourScorer
from retrieval.turn_encoder import ONNX_DIR, ONNX_META, onnx_is_current, turn_encoder
from retrieval.understanding import Understanding

TEXTS = [
    "how long does delivery take?",
    "can I return an item?",
    "do you sell cookie jars?",
    "what's the weather in Paris",
    "where is my order 573415",
    "I want to talk to a person",
    "is the glass cookie jar good for storing biscuits?",
    "gifts under £5",
]


@pytest.fixture(scope="module")
def router_dir(built_var: Path) -> Path:
    return Settings(var_dir=built_var).router_dir


def test_the_embedding_is_the_base_models_own_sentence_embedding(router_dir: Path) -> None:
    """Retrieval needs all-MiniLM-L6-v2's vectors, not the router's fine-tuned ones."""
    reference = SentenceEncoder().encode(TEXTS)
    encoded = turn_encoder("torch", router_dir).run(TEXTS)
    vectors = np.stack([e.vector for e in encoded])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.min(np.sum(vectors * reference, axis=1)) > 0.9999


@pytest.mark.parametrize(("backend", "min_cosine", "min_agreement"),
                         [("onnx-fp32", 0.9999, 1.0), ("onnx-int8", 0.97, 0.85)])
def test_onnx_backends_agree_with_pytorch(router_dir: Path, backend: str, min_cosine: float,
                                          min_agreement: float) -> None:
    reference = turn_encoder("torch", router_dir).run(TEXTS)
    served = turn_encoder(backend, router_dir).run(TEXTS)
    cosines = [float(np.dot(a.vector, b.vector)) for a, b in zip(reference, served, strict=True)]
    assert min(cosines) >= min_cosine
    same = [a.routed.label == b.routed.label for a, b in zip(reference, served, strict=True)]
    assert sum(same) / len(same) >= min_agreement


def conversation_messages() -> list[str]:
    """Every distinct shopper message of the demo shop's conversation sets, sorted."""
    texts = {turn["say"] for path in sorted((REPO_ROOT / "data" / "eval").glob("conversations_*.jsonl"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
             for turn in json.loads(line)["turns"]}
    return sorted(texts)


@pytest.mark.parametrize("backend", ["onnx-fp32", "onnx-int8"])
def test_a_batch_gives_what_each_message_gives_alone(router_dir: Path, backend: str) -> None:
    """The server batches concurrent shoppers' messages: each must be decided as it is alone.

    The int8 graph scales activations per row; with one scale per batch (its earlier format)
    about one decision in 26 of these messages changed with the messages beside it.
    """
    texts = random.Random(0).sample(conversation_messages(), 160)
    encoder = turn_encoder(backend, router_dir)
    alone = [encoder.run([t])[0] for t in texts]
    together = [e for start in range(0, len(texts), 16) for e in encoder.run(texts[start : start + 16])]
    for text, a, b in zip(texts, alone, together, strict=True):
        assert (a.routed.label, a.routed.top_label) == (b.routed.label, b.routed.top_label), text
        assert abs(a.routed.confidence - b.routed.confidence) < 1e-4, text
        assert float(np.dot(a.vector, b.vector)) > 0.99999, text


def test_an_export_of_an_earlier_int8_format_is_made_again(router_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "router"
    shutil.copytree(router_dir, copy)
    assert onnx_is_current(copy)
    meta_path = copy / ONNX_DIR / ONNX_META
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["int8"] = "int8-per-row"  # format 1 of the per-row graph
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    assert not onnx_is_current(copy)
    del meta["int8"]  # what exports made before the per-row format hold
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    assert not onnx_is_current(copy)
    with pytest.raises(NotReady, match="shopbot setup"):
        turn_encoder("onnx-int8", copy).warm_up()


def test_a_router_without_its_onnx_export_is_not_ready(router_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "router"
    shutil.copytree(router_dir, copy)
    shutil.rmtree(copy / ONNX_DIR)
    with pytest.raises(NotReady, match="shopbot setup"):
        turn_encoder("onnx-int8", copy).warm_up()


def test_an_unknown_backend_is_refused(router_dir: Path) -> None:
    with pytest.raises(ValueError, match="unknown inference backend"):
        turn_encoder("tensorrt", router_dir)


def test_understanding_searches_a_batch_as_it_searches_one(built_var: Path) -> None:
    settings = Settings(var_dir=built_var)
    entries = load_entries(settings.faq_path, settings.intents_path)
    encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir)
    kb, rebuilt = load_knowledge_base(entries, settings.shop_dir, settings.index_dir, encoder)
    assert rebuilt == []
    stage = Understanding(turn_encoder("onnx-int8", settings.router_dir), NearestNeighbourScorer(kb))
    together = stage.run(TEXTS)
    alone = [stage.run([t])[0] for t in TEXTS]
    assert [u.scores.hits[0].id for u in together] == [u.scores.hits[0].id for u in alone]
    # Near-identical products (one design in two sizes) may swap places under int8.
    for a, b in zip(together, alone, strict=True):
        assert a.scores.product_hits[0].id in {h.id for h in b.scores.product_hits[:3]}
    assert together[0].scores.hits[0].id.endswith("delivery")
    assert together[2].scores.product_hits[0].text.lower().count("jar") >= 1
    assert all(u.search_ms >= 0 for u in together)
    assert stage.run([]) == []
