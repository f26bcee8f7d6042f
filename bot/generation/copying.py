"""Copy bias: a decoding constraint that makes a small GPT-2 copy spans of its context exactly.

At each step the answer's longest suffix that also occurs in the prompt is found; the tokens
that follow it there get ``bias`` added to their logits, so a name or a fact the model has
started to copy is finished as written rather than drifting into a neighbour's ("The Set/5 Red
Retrospot ..." ending in "The Set/4."). Where the copied span ends at a passage boundary (the
separator or the end of the context line) the end token gets the bias instead: a copied
passage ends where the passage does. The model still chooses where to start, which of several
continuations to follow, and any word of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.generation.prompt import PASSAGE_SEPARATOR

# The longest suffix compared; longer matches add nothing once a span is unique.
MAX_SPAN = 12


def copy_targets(context: Sequence[int], answer: Sequence[int], *, boundaries: frozenset[int],
                 end_id: int, max_span: int = MAX_SPAN) -> set[int]:
    """Token ids that continue the answer's longest suffix found in ``context`` (empty if none).

    ``boundaries`` are the ids that end a passage (separator, line breaks); a continuation
    that is one of them becomes ``end_id``.
    """
    if not answer:
        return set()
    last, best, following = answer[-1], 0, set()
    for i in range(len(context) - 1):
        if context[i] != last:
            continue
        n = 1
        while n < max_span and n < len(answer) and i >= n and context[i - n] == answer[-1 - n]:
            n += 1
        if n > best:
            best, following = n, {context[i + 1]}
        elif n == best:
            following.add(context[i + 1])
    if following & boundaries:
        following = (following - boundaries) | {end_id}
    return following


def boundary_ids(pieces: Sequence[str]) -> frozenset[int]:
    """Ids of the vocabulary ``pieces`` (decoded tokens) that hold a passage separator or a line break."""
    mark = PASSAGE_SEPARATOR.strip()
    return frozenset(i for i, piece in enumerate(pieces) if mark in piece or "\n" in piece)
