"""The django-oscar platform's own virtualenv: built once under ``var/platforms/``, then reused.

The shop is a separate program with its own dependencies (Django, Oscar, gunicorn): they never
enter Shopbot's environment. The venv is rebuilt only when the pinned requirements change; a
migrated empty database is kept beside it too, keyed on the requirements and the shop's settings,
so each run copies it instead of migrating from scratch (about 13 s).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROJECT = Path(__file__).with_name("oscar")
VENV = REPO_ROOT / "var" / "platforms" / "oscar-venv"
# django-oscar and django-oscar-api: BSD; sorl-thumbnail (Oscar's image thumbnails): BSD-3-Clause;
# gunicorn: MIT. Django (BSD-3-Clause) comes with Oscar.
REQUIREMENTS = (
    "django-oscar[sorl-thumbnail]==4.2.1",
    "django-oscar-api==3.3.0",
    "gunicorn==23.0.0",
)
_STAMP = ".shopbot-requirements"


def platform_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the platform's processes run with: none of Shopbot's Python settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    # Third-party warnings at start-up (haystack's simple backend) are noise in test logs.
    env.update({"PYTHONWARNINGS": "ignore", "PYTHONDONTWRITEBYTECODE": "1",
                "DJANGO_SETTINGS_MODULE": "settings", **(extra or {})})
    return env


def ensure_venv(venv: Path = VENV) -> Path:
    """The platform venv's directory, created and installed first when missing or out of date."""
    wanted = "\n".join(REQUIREMENTS) + "\n"
    with _locked(venv):
        stamp = venv / _STAMP
        if stamp.exists() and stamp.read_text() == wanted and (venv / "bin" / "python").exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check", *REQUIREMENTS], check=True, env=platform_env())
        stamp.write_text(wanted)
    return venv


def migrated_database(venv: Path, into: Path, env: dict[str, str]) -> None:
    """Put a freshly migrated, empty shop database at ``into`` (from the cache when it has one)."""
    digest = hashlib.sha256(((venv / _STAMP).read_text() + (PROJECT / "settings.py").read_text())
                            .encode()).hexdigest()[:16]
    cached = venv / f"schema-{digest}.sqlite3"
    with _locked(venv):
        if not cached.exists():
            manage(venv, env, "migrate", "--noinput", timeout_s=600)
            shutil.copyfile(into, cached.with_suffix(".tmp"))
            cached.with_suffix(".tmp").replace(cached)
            return
    shutil.copyfile(cached, into)


def manage(venv: Path, env: dict[str, str], *args: str,
           timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a Django management command of the shop in its own venv; its output (stdout)."""
    done = subprocess.run([str(venv / "bin" / "python"), "manage.py", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done


@contextmanager
def _locked(venv: Path) -> Iterator[None]:
    # Two test processes starting at once must not build the same venv side by side.
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
