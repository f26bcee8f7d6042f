"""The accurate profile's turn encoder: one MiniLM pass, and one mpnet pass, per batch of messages.

The MiniLM pass (``OnnxTurnEncoder``/``TorchTurnEncoder``) gives the router's logits and the
retrieval embedding FAISS searches; the mpnet pass gives the frozen embedding the second head
scores and the shop's nearest phrasings are found by, for the messages of the batch MiniLM is
not sure of (the cascade). Their decision is the two models' ensemble
(``retrieval/router_ensemble.py``) at the threshold calibrated when the router was trained.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import NotReady
from retrieval.encoded import Encoded
from retrieval.router import load_saved
from retrieval.router_ensemble import HEAD_FILE, EnsembleScale, MpnetHead, cascade_outputs


class RawTurnEncoder(Protocol):
    """A MiniLM turn encoder that also gives its raw logits."""

    @property
    def version(self) -> str: ...

    def warm_up(self) -> None: ...

    def raw(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]: ...


class SentenceVectors(Protocol):
    """The frozen second encoder."""

    @property
    def version(self) -> str: ...

    def warm_up(self) -> None: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class EnsembleTurnEncoder:
    """Router decision from both models, retrieval embedding from MiniLM."""

    def __init__(self, minilm: RawTurnEncoder, mpnet: SentenceVectors, router_dir: Path) -> None:
        self._minilm = minilm
        self._mpnet = mpnet
        self._dir = Path(router_dir)
        self._lock = threading.Lock()
        self._loaded: tuple[Any, MpnetHead, EnsembleScale, float] | None = None
        # Messages routed, and how many of them mpnet scored (the cascade's share; diagnostics).
        self.rows = 0
        self.mpnet_rows = 0

    @property
    def version(self) -> str:
        """The MiniLM encoder's version (the router's, profile included) and the mpnet export's."""
        return f"{self._minilm.version}+{self._mpnet.version}"

    def warm_up(self) -> None:
        """Load both encoders and the second head once."""
        if self._loaded is not None:
            return
        with self._lock:
            if self._loaded is None:
                self._minilm.warm_up()
                self._mpnet.warm_up()
                self._loaded = self._load()

    def _load(self) -> tuple[Any, MpnetHead, EnsembleScale, float]:
        saved = load_saved(self._dir)
        try:
            head = MpnetHead.load(self._dir / HEAD_FILE)
            scale = EnsembleScale.from_json(saved.calibration["ensemble"])
            minilm_threshold = float(saved.calibration["minilm_alone"]["threshold"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise NotReady(f"{self._dir} has no usable mpnet head or ensemble calibration: {err}") from err
        if head.weight.shape[0] != len(saved.labels):
            raise NotReady(f"{self._dir}: the mpnet head and router.json disagree on the labels")
        if scale.neighbours_sd > 0 and len(head.bank) == 0:
            raise NotReady(f"{self._dir}: the calibration counts nearest neighbours but the head has none")
        return saved, head, scale, minilm_threshold

    def run(self, texts: Sequence[str]) -> list[Encoded]:
        """Decision and retrieval embedding of each text."""
        if not texts:
            return []
        self.warm_up()
        assert self._loaded is not None
        saved, head, scale, minilm_threshold = self._loaded
        minilm_logits, vectors = self._minilm.raw(texts)

        def mpnet_scores(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return head.score(self._mpnet.encode([texts[i] for i in rows]))

        outputs, scored = cascade_outputs(minilm_logits, mpnet_scores, saved.labels, scale, saved.threshold,
                                          minilm_threshold)
        with self._lock:
            self.mpnet_rows += scored
            self.rows += len(texts)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        return [Encoded(o, v) for o, v in zip(outputs, vectors, strict=True)]
