"""research/int8_batch_dependence.py: its texts, batchings and flip count on hand-made data."""

from __future__ import annotations

from research_script import load_research_script

ib = load_research_script("int8_batch_dependence")


def test_conversation_texts_are_the_shoppers_messages_once_each() -> None:
    texts = ib.conversation_texts()
    assert texts == sorted(set(texts)) and len(texts) > 100
    assert "how much is the first one?" in texts


def test_each_batching_covers_every_row_once_in_batches_of_the_size() -> None:
    for batches in ib.batchings(10, 4, trials=3):
        assert sorted(i for rows in batches for i in rows) == list(range(10))
        assert [len(rows) for rows in batches] == [4, 4, 2]
    assert ib.batchings(10, 4, 2, seed=1) == ib.batchings(10, 4, 2, seed=1)


def test_flips_count_changed_decisions_declines_included() -> None:
    assert ib.flips(["a", None, "b"], ["a", "b", None]) == 2
    assert ib.flips(["a"], ["a"]) == 0
