"""Import a script of ``research/`` (a folder of scripts, not a package) as a module, for its tests."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from tests.bench_script import load_script

RESEARCH = Path(__file__).resolve().parents[1]


def load_research_script(name: str) -> ModuleType:
    """``research/<name>.py`` as the module ``name``."""
    return load_script(RESEARCH / f"{name}.py")
