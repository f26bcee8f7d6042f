"""Every benchmark script behind `make bench` and docs/ starts: its imports resolve and it parses --help.

The benchmarks run only on request (minutes each), so a helper they import going missing would
otherwise surface the next time someone measures (bench/handoff_latency.py once imported a
module deleted months before). bench/ measures the product: it imports neither the tests nor
the research experiments (research/, run by `make research-test`); the services it starts come
from harness/.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

SCRIPTS = sorted((REPO_ROOT / "bench").glob("*.py"))
# Research scripts import each other by bare name (their folder on sys.path), so those count too.
FORBIDDEN = {"tests", "research", *(p.stem for p in (REPO_ROOT / "research").glob("*.py"))}


def forbidden_imports(source: str) -> list[str]:
    """The modules ``source`` imports (statements, ``importlib.import_module``, ``__import__``)
    whose top-level name is in ``FORBIDDEN``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id == "__import__"))):
            names = [node.args[0].value]
        else:
            continue
        found += [name for name in names if name.split(".")[0] in FORBIDDEN]
    return found


def test_there_are_benchmarks_to_check() -> None:
    assert len(SCRIPTS) >= 5
    assert "handoff_latency.py" in {s.name for s in SCRIPTS}
    assert "router_methods" in FORBIDDEN, "the research experiments live in research/"


def test_the_import_check_sees_every_form_of_import() -> None:
    source = ("import json\nimport tests.pg\nfrom tests.bot import test_durability\n"
              "from research import x\nimport router_methods as rm\nfrom harness.pg import postgres\n"
              "import importlib\nimportlib.import_module('tests.server_process')\n"
              "__import__('router_unseen')\nfrom . import serving\n")
    assert forbidden_imports(source) == ["tests.pg", "tests.bot", "research", "router_methods",
                                         "tests.server_process", "router_unseen"]


@pytest.mark.parametrize("script", sorted((REPO_ROOT / "bench").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(REPO_ROOT / "bench")))
def test_bench_imports_neither_tests_nor_research(script: Path) -> None:
    assert forbidden_imports(script.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_benchmark_imports_and_parses_its_arguments(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]
