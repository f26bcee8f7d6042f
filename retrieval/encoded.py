"""What a turn encoder gives for one message, and the role every turn encoder plays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from core.turns import RouterOutput


@dataclass(frozen=True)
class Encoded:
    """What one pass gives for one message: the router's decision and the unit embedding."""

    routed: RouterOutput
    vector: np.ndarray


class TurnEncoder(Protocol):
    """Router decision plus retrieval embedding for a batch of messages."""

    @property
    def version(self) -> str: ...

    def warm_up(self) -> None: ...

    def run(self, texts: Sequence[str]) -> list[Encoded]: ...
