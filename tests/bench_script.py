"""Import a script of ``bench/`` or ``research/`` (folders of scripts, not packages) as a module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def load_script(path: Path) -> ModuleType:
    """The script at ``path`` as the module named after it (registered, so its dataclasses resolve)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def load_bench_script(name: str) -> ModuleType:
    """``bench/<name>.py`` as the module ``name``."""
    return load_script(BENCH / f"{name}.py")
