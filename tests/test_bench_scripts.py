"""Every benchmark script behind `make bench` and docs/ starts: its imports resolve and it parses --help.

The benchmarks run only on request (minutes each), so a helper they import going missing would
otherwise surface the next time someone measures (bench/handoff_latency.py once imported a
module deleted months before).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "bench").glob("*.py"))


def test_there_are_benchmarks_to_check() -> None:
    assert len(SCRIPTS) >= 5
    assert "handoff_latency.py" in {s.name for s in SCRIPTS}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_benchmark_imports_and_parses_its_arguments(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]
