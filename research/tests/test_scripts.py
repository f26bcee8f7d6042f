"""Every research script starts: its imports of the product resolve and it parses --help.

The experiments import product code they are pinned to; when the product moves on, this is
where that shows first (``make research-test``), not the next time someone reruns a study.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RESEARCH = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(RESEARCH.glob("*.py"))


def test_the_six_experiments_are_here() -> None:
    assert {s.stem for s in SCRIPTS} >= {"router_methods", "router_curve", "router_outliers",
                                         "router_seed_ensemble", "router_unseen", "recommender_reranker"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_experiment_imports_and_parses_its_arguments(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=RESEARCH.parent, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]
