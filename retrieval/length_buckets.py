"""A batch run as a few runs of similar length, so short messages are not padded to the longest.

A batch of tokenised texts is padded to its longest text, and every padding token costs as much
to encode as a real one: in a batch of 64 shopper messages the demo conversations waste about half
the tokens computed (docs/quality.md, "Per-row format 2, runs by length"). Splitting the batch by
length saves the padding but pays each run's fixed cost, so the split is the one that minimises
the tokens computed plus ``RUN_OVERHEAD_TOKENS`` per run, found exactly by dynamic programming over
the distinct lengths (texts of one length always share a run).

No output changes with it beyond fp32 rounding: attention masks padding out, mean pooling skips
it, and the int8 graphs scale each token's activations on their own (``retrieval/row_int8.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# One ONNX Runtime run of the MiniLM graphs costs about as much as 14 tokens more in a run
# (1.2-1.5 ms against 0.09 ms a token on one core, docs/quality.md, "Per-row format 2"):
# rounded up, so a split is made only where it clearly pays.
RUN_OVERHEAD_TOKENS = 16

Run = Callable[[np.ndarray, np.ndarray], list[np.ndarray]]


def plan(lengths: np.ndarray, overhead: int = RUN_OVERHEAD_TOKENS) -> list[np.ndarray]:
    """Row indices of each run, shortest run first: the split of ``lengths`` (tokens per text)
    that minimises the padded tokens plus ``overhead`` per run."""
    lengths = np.asarray(lengths)
    if len(lengths) == 0:
        return []
    distinct, counts = np.unique(lengths, return_counts=True)
    before = np.concatenate([[0], np.cumsum(counts)])  # texts shorter than distinct[i]
    # best[j]: cost of the texts with the j shortest lengths; cut[j]: where its last run starts.
    best = [0.0] + [float("inf")] * len(distinct)
    cut = [0] * (len(distinct) + 1)
    for j in range(1, len(distinct) + 1):
        for i in range(j):
            cost = best[i] + overhead + (before[j] - before[i]) * int(distinct[j - 1])
            if cost < best[j]:
                best[j], cut[j] = cost, i
    bounds, j = [], len(distinct)
    while j > 0:
        bounds.append((cut[j], j))
        j = cut[j]
    order = np.argsort(lengths, kind="stable")
    return [order[before[i]:before[j]] for i, j in reversed(bounds)]


def run_by_length(run: Run, ids: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """``run``'s outputs for a right-padded batch, computed in runs of similar length and put back
    in the batch's order (each output has one row per text)."""
    lengths = mask.sum(axis=1)
    runs = plan(lengths)
    if len(runs) == 1:
        return run(*_trimmed(ids, mask, lengths))
    parts = [run(*_trimmed(ids[rows], mask[rows], lengths[rows])) for rows in runs]
    order = np.concatenate(runs)
    outputs = []
    for k in range(len(parts[0])):
        stacked = np.concatenate([p[k] for p in parts])
        result = np.empty_like(stacked)
        result[order] = stacked
        outputs.append(result)
    return outputs


def _trimmed(ids: np.ndarray, mask: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows without the padding columns none of them needs (``lengths``: their tokens)."""
    width = max(1, int(lengths.max()))
    return ids[:, :width], mask[:, :width]
