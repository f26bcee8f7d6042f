"""The one-way house is checked, not promised: import-linter's contracts and what they mean, no
import circle inside bot/, and no module that imports more than 25 of ours."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from core.settings import REPO_ROOT
from tests.imports import circles, import_graph

PACKAGES = ("core", "bot", "retrieval", "actions", "monitoring")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# A module that needs more of ours than this does more than one thing.
MAX_IMPORTS = 25


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300, check=False,
    )


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "house"
    root.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root)
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_the_contracts_hold_and_a_backward_import_breaks_them(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    kept = _lint(root)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout
    (root / "retrieval" / "backwards.py").write_text("from bot.settings_shim import X  # noqa\n")
    (root / "bot" / "settings_shim.py").write_text("X = 1\n")
    broken = _lint(root)
    assert broken.returncode != 0
    assert "retrieval.backwards -> bot.settings_shim" in broken.stdout


def test_monitoring_serving_http_breaks_a_contract(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "monitoring" / "handler.py").write_text("from aiohttp import web  # noqa\n")
    broken = _lint(root)
    assert broken.returncode != 0 and "Nothing under monitoring/ serves HTTP BROKEN" in broken.stdout


def test_the_actions_load_without_the_server() -> None:
    probe = ("import sys, actions.shop_actions; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'bot'))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_inside_bot_a_feature_importing_another_or_serving_importing_training_breaks_a_contract(
    tmp_path: Path,
) -> None:
    root = _copy(tmp_path)
    (root / "bot" / "review" / "borrowed.py").write_text("from bot.staff.api import HANDOFF_ROUTES  # noqa\n")
    (root / "bot" / "serving" / "trains.py").write_text("from bot.training.jobs import run  # noqa\n")
    broken = _lint(root)
    assert broken.returncode != 0
    assert "bot.review.borrowed -> bot.staff.api" in broken.stdout, "features are independent"
    assert "bot.serving.trains -> bot.training.jobs" in broken.stdout, "serving never imports training"


def test_bot_has_no_import_circle_and_no_module_imports_more_than_25_others() -> None:
    graph = import_graph(REPO_ROOT, PACKAGES)
    inside_bot = {m: {d for d in deps if d.split(".")[0] == "bot"} for m, deps in graph.items()
                  if m.split(".")[0] == "bot"}
    assert circles(inside_bot) == []
    crowded = {m: len(deps) for m, deps in graph.items() if len(deps) > MAX_IMPORTS}
    assert crowded == {}, f"modules importing more than {MAX_IMPORTS} of ours"


def test_the_circle_finder_finds_a_circle() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_server_loads_no_training_code() -> None:
    probe = ("import sys, bot.server, bot.workers; "
             "print(sorted(m for m in sys.modules if m.startswith('bot.training')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    assert out.stdout.strip() == "[]"
