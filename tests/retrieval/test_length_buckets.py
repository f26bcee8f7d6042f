"""Runs by length: every text in exactly one run, the cheapest split, outputs back in order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from retrieval.length_buckets import plan, run_by_length


def cost(lengths: np.ndarray, runs: list[np.ndarray], overhead: int) -> int:
    return sum(overhead + len(r) * int(lengths[r].max()) for r in runs)


def brute_force(lengths: np.ndarray, overhead: int) -> int:
    """The cheapest cost over every split of the sorted distinct lengths into consecutive runs."""
    distinct, counts = np.unique(lengths, return_counts=True)
    best = None
    for cuts in itertools.product((False, True), repeat=len(distinct) - 1):
        total, count = 0, 0
        for i, (length, n) in enumerate(zip(distinct, counts, strict=True)):
            count += n
            if i == len(distinct) - 1 or cuts[i]:
                total += overhead + count * int(length)
                count = 0
        best = total if best is None else min(best, total)
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(20))
def test_the_plan_is_the_cheapest_split_and_holds_every_text_once(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # At most 10 distinct lengths: the brute force tries 2 ** (distinct - 1) splits.
    lengths = rng.integers(2, 12, size=int(rng.integers(1, 40)))
    overhead = int(rng.integers(0, 40))
    runs = plan(lengths, overhead)
    assert sorted(np.concatenate(runs).tolist()) == list(range(len(lengths)))
    assert cost(lengths, runs, overhead) == brute_force(lengths, overhead)


def test_texts_of_one_length_share_one_run() -> None:
    assert [r.tolist() for r in plan(np.array([9, 9, 9, 9]))] == [[0, 1, 2, 3]]
    assert plan(np.array([], dtype=int)) == []


def test_short_texts_leave_a_long_one_when_the_padding_costs_more_than_a_run() -> None:
    lengths = np.array([40] + [4] * 30)
    runs = plan(lengths, overhead=16)
    assert [sorted(r.tolist()) for r in runs] == [list(range(1, 31)), [0]]


def test_outputs_come_back_in_the_batch_order_from_runs_trimmed_to_their_longest() -> None:
    lengths = np.array([3, 12, 3, 12, 5, 3] * 4)
    width = int(lengths.max()) + 2  # the tokenizer's padding, wider than any text needs here
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    ids = (np.arange(len(lengths))[:, None] + 1) * mask
    seen: list[tuple[int, int]] = []

    def run(i: np.ndarray, m: np.ndarray) -> list[np.ndarray]:
        seen.append(i.shape)
        assert i.shape[1] == m.sum(axis=1).max()  # no column every row pads
        return [i.max(axis=1) - 1, m.sum(axis=1)]

    row, tokens = run_by_length(run, ids, mask)
    assert len(seen) > 1
    assert row.tolist() == list(range(len(lengths)))
    assert tokens.tolist() == lengths.tolist()
