"""research/router_unseen.py: BANKING77's CSV files become knowledge + cases, and a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from research_script import load_research_script

from bot.training.router_eval import load_cases
from retrieval.knowledge import load_knowledge
from retrieval.router import RouterConfig

ru = load_research_script("router_unseen")

TRAIN = {
    "card_arrival": ["I am still waiting on my card?", "when will my card arrive",
                     "my new card has not come yet", "how long does a card take to arrive",
                     "is my card in the post"],
    "lost_card": ["I lost my card", "my card was stolen, what do I do",
                  "I can't find my card anywhere", "someone took my card",
                  "block my lost card please"],
}
# Test cases repeat training phrasings, so any sane classifier must get them right.
TEST = [("when will my card arrive", "card_arrival"), ("I lost my card", "lost_card")]


def _csvs(folder: Path) -> Path:
    folder.mkdir()
    rows = ["text,category"] + [f'"{q}",{k}' for k, qs in TRAIN.items() for q in qs]
    (folder / "train.csv").write_text("\n".join(rows) + "\n")
    (folder / "test.csv").write_text("text,category\n" + "".join(f'"{t}",{k}\n' for t, k in TEST))
    return folder


def test_prepare_keeps_every_phrasing_and_case_in_the_formats_shopbot_eval_reads(tmp_path: Path) -> None:
    faq, cases = ru.prepare(_csvs(tmp_path / "b77"), tmp_path / "out")
    entries = load_knowledge(faq)
    assert {e.id: list(e.questions) for e in entries} == TRAIN
    loaded = load_cases(cases, {e.id for e in entries})
    assert [(c.text, c.expected) for c in loaded] == TEST
    assert all(json.loads(line)["expected"] for line in cases.read_text().splitlines())


def test_a_tiny_real_run_reports_accuracy_top1_and_declines_consistently(tmp_path: Path) -> None:
    faq, cases_path = ru.prepare(_csvs(tmp_path / "b77"), tmp_path / "out")
    entries = load_knowledge(faq)
    cases = load_cases(cases_path, {e.id for e in entries})
    router = ru.router_figures(entries, cases, RouterConfig.tiny(), tmp_path / "work")
    # Declined cases are wrong, so accuracy can never exceed the answered share or raw top-1.
    assert 0.0 <= router["in_scope_accuracy"] <= min(router["raw_top1"], 1.0 - router["declined"])
    assert router["max_seq_length"] == RouterConfig.tiny().max_seq_length and router["train_s"] > 0
    baseline = ru.logistic_figures(entries, cases, seed=0)
    assert baseline["C"] in ru.C_GRID and set(baseline["dev_accuracy"]) == set(ru.C_GRID)
    # Cases seen in training: the frozen embeddings plus a logistic head get both right.
    assert baseline["in_scope_accuracy"] == pytest.approx(1.0)
