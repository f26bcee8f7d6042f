"""The one-way house is checked, not promised: import-linter's contracts and what they mean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from core.settings import REPO_ROOT

PACKAGES = ("core", "bot", "retrieval", "actions", "monitoring")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


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
