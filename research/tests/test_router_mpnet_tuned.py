"""research/router_mpnet_tuned.py: the split run reproduces the model, and the tuning learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from research_script import load_research_script

from retrieval.embeddings import bundled_model_path
from retrieval.knowledge import KnowledgeEntry

mt = load_research_script("router_mpnet_tuned")
Data = mt.Data

WORDS = {"a": ["refund my order", "money back please", "return this item", "i want a refund"],
         "b": ["where is my parcel", "track the delivery", "when does it arrive", "shipping status"],
         "out_of_scope": ["tell me a joke", "what is the weather", "who won the match", "sing a song"]}


@pytest.fixture(scope="module")
def tiny() -> tuple[object, object]:
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    torch.manual_seed(0)
    config = MPNetConfig(vocab_size=30527, hidden_size=32, num_hidden_layers=3, num_attention_heads=2,
                         intermediate_size=64, attn_implementation="eager")
    return MPNetModel(config).eval(), AutoTokenizer.from_pretrained(str(bundled_model_path()))


def _data(repeat: int = 3) -> object:
    entries = [KnowledgeEntry(k, tuple(f"{q} {i}" for i in range(repeat) for q in qs), "answer")
               for k, qs in WORDS.items()]
    labels = tuple(e.id for e in entries)
    texts = [q for e in entries for q in e.questions]
    y = np.array([i for i, e in enumerate(entries) for _ in e.questions])
    fold = np.arange(len(texts)) % 5
    val_texts = ["refund please", "track my parcel", "a joke"]
    return Data(entries, labels, texts, y, fold, val_texts, np.array([0, 1, -1]))


def test_the_top_layer_on_cached_states_gives_the_models_own_embedding(tiny) -> None:
    model, tokenizer = tiny
    texts = ["refund my order please", "hi", "where is the parcel i ordered last week"]
    states = mt.frozen_states(model, tokenizer, texts, frozen_layers=2)
    top = mt.Top(model, 1, np.zeros((2, 32), np.float32), np.zeros(2, np.float32))
    top.layers.eval()
    with torch.inference_mode():
        hidden, mask = states.batch(np.arange(3))
        _, unit = top.forward(hidden, mask)
    assert mask.sum(dim=1).tolist() == [int(states.offsets[i + 1] - states.offsets[i]) for i in range(3)]
    np.testing.assert_allclose(unit.numpy(), states.frozen, atol=1e-3)  # the cache is float16
    np.testing.assert_allclose(np.linalg.norm(states.frozen, axis=1), 1.0, atol=1e-5)


def test_tuning_fits_the_rows_better_than_the_probe_and_leaves_the_model_alone(tiny) -> None:
    model, tokenizer = tiny
    data = _data()
    states = mt.frozen_states(model, tokenizer, data.texts, frozen_layers=2)
    before = [p.detach().clone() for p in model.encoder.layer[-1].parameters()]
    rows = np.arange(len(data.texts))
    cfg = mt.TuneConfig(layer_lr=1e-3, head_lr=1e-2, epochs=30.0, batch_size=8)
    top = mt.tune(model, states, rows, data.y, 3, cfg)
    probe = mt.Top(model, 1, *mt.fit_head(states.frozen, data.y, 3))
    probe.layers.eval()

    def loss(member: object) -> float:
        logits = torch.from_numpy(mt.tuned_logits(member, states, rows))
        return float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(data.y)))

    assert loss(top) < 0.5 * loss(probe)
    assert all(torch.equal(a, b) for a, b in zip(before, model.encoder.layer[-1].parameters(), strict=True))


def test_tuned_heads_have_the_calibration_studys_layout(tiny) -> None:
    model, tokenizer = tiny
    data = _data(repeat=5)
    states = mt.frozen_states(model, tokenizer, data.texts + data.val_texts, frozen_layers=2)
    oof, held, val, rows, mask = mt.tuned_heads(data, model, states, mt.TuneConfig(epochs=1.0))
    assert [len(o) for o in oof] == [int((data.fold == k).sum()) for k in range(5)]
    assert all(o.shape[1] == 3 for o in oof)
    assert held.shape == (len(rows), 3) and not mask[rows].any() and mask.sum() + len(rows) == len(data.texts)
    assert val.shape == (3, 3)
