"""The Rasa commands of README.md and docs/rasa.md, run as written from a fresh data directory.

The README's block is the docs' quick start without its install and curl lines (checked), so the
quick start, run once, covers both. The fenced ``bash`` block becomes a shell script run in a
temp folder holding ``path/to/project`` (`rasa init`'s moodbot) and ``.venv`` (this one), with
``SHOPBOT_VAR_DIR`` empty but for what is slow and not the commands' concern: the encoder's ONNX
export, the router already trained on the project (so `setup` finds it current, as it would
after a first run; without it `setup` trains it) and the generator
(``SHOPBOT_GENERATOR_MODEL``). The shop's tables, the catalogue, the indexes and the recommender
are built by the commands. Three changes to the text, all for the test's sake: the server's port
is a free one, not 8080; `shopbot run` goes to the background until it is ready; `eval` cross-
validates over 2 folds of a ``--tiny`` router, not 5 full ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from core.settings import REPO_ROOT
from tests.retrieval.test_rasa_project import STARTER

pytestmark = pytest.mark.slow

VENV = REPO_ROOT / ".venv"


def fenced_bash(markdown: Path, heading: str) -> list[str]:
    """The lines of the first ```bash block under ``heading`` (continuations joined)."""
    text = markdown.read_text(encoding="utf-8")
    section = text.split(f"\n{heading}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, f"no bash block under {heading} in {markdown.name}"
    return block.group(1).replace("\\\n", " ").splitlines()


def script_of(lines: list[str], port: int) -> tuple[str, list[str]]:
    """The block as a shell script, and the outputs its comments promise (``# [...]`` lines)."""
    out = ["set -euo pipefail"]
    expected: list[str] = []
    for raw in lines:
        line = raw.strip()
        if line.startswith("# ["):
            expected.append(line[2:])
            continue
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if not line or line.startswith("#"):
            continue
        line = line.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        if line == "make install":
            out.append("test -x .venv/bin/shopbot")  # the virtual environment running these tests
        elif " shopbot run" in f" {line}" or "/shopbot run" in line:
            ready = f"curl -sf http://127.0.0.1:{port}/health/ready >/dev/null"
            out += [f"{line} > run.log 2>&1 &", "echo $! > run.pid",
                    f"for i in $(seq 1 300); do {ready} && break; kill -0 $(cat run.pid) || break; "
                    "sleep 0.5; done",
                    f"{ready} || {{ cat run.log; exit 9; }}"]
        elif line.startswith("curl "):
            out.append(f"{line} | tee -a curl.out; echo >> curl.out")
        else:
            out.append(line.replace("--folds 5", "--folds 2 --tiny"))
    return "\n".join(out) + "\n", expected


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh(tmp_path: Path, starter_var: Path) -> tuple[Path, dict[str, str]]:
    """A work folder with the project and the venv, and the environment of a fresh data dir."""
    work = tmp_path / "work"
    shutil.copytree(STARTER, work / "path" / "to" / "project")
    (work / ".venv").symlink_to(VENV, target_is_directory=True)
    var = tmp_path / "var"
    var.mkdir()
    (var / "encoder").symlink_to((starter_var / "encoder").resolve(), target_is_directory=True)
    shutil.copytree(starter_var / "router", var / "router")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBOT_")}
    env.update(SHOPBOT_VAR_DIR=str(var), SHOPBOT_GENERATOR_MODEL=str((starter_var / "generator").resolve()),
               PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return work, env


def run_block(work: Path, env: dict[str, str], script: str) -> subprocess.CompletedProcess[str]:
    (work / "commands.sh").write_text(script)
    try:
        return subprocess.run(["bash", "commands.sh"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=900)
    except subprocess.TimeoutExpired:
        stop(work)
        raise


def stop(work: Path) -> None:
    pid = work / "run.pid"
    if pid.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid.read_text()), signal.SIGTERM)


async def ask(port: int, text: str) -> list[dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.post(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook", json={"sender": "me", "message": text}
    ) as resp:
        assert resp.status == 200
        body: list[dict[str, object]] = await resp.json()
        return body


def commands(lines: list[str]) -> list[str]:
    """A block's commands, comments and blank lines left out."""
    out = (re.sub(r"\s+#\s.*$", "", line).strip() for line in lines)
    return [line for line in out if line and not line.startswith("#")]


def test_the_readme_rasa_commands_are_those_the_docs_quick_start_runs() -> None:
    # One run from an empty data dir (below) checks both: the README's block is the quick
    # start's commands, in the same order (it leaves out the install and the curl).
    readme = commands(fenced_bash(REPO_ROOT / "README.md", "## Bring your Rasa project"))
    docs = commands(fenced_bash(REPO_ROOT / "docs" / "rasa.md", "## Moving a project"))
    assert any("shopbot setup" in c for c in readme) and any("shopbot run" in c for c in readme)
    remaining = iter(docs)
    assert all(any(c == d for d in remaining) for c in readme), (readme, docs)


async def test_the_docs_rasa_quick_start_works_from_a_fresh_data_dir(
    tmp_path: Path, starter_var: Path
) -> None:
    work, env = fresh(tmp_path, starter_var)
    port = free_port()
    env["SHOPBOT_PORT"] = str(port)
    script, expected = script_of(fenced_bash(REPO_ROOT / "docs" / "rasa.md", "## Moving a project"), port)
    assert expected, "the quick start shows what the server answers"
    try:
        done = run_block(work, env, script)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        answers = [json.loads(line) for line in (work / "curl.out").read_text().splitlines() if line]
        assert answers == [json.loads(e) for e in expected], "the server answers as the docs show"
        assert '"folds": 2' in done.stdout or "accuracy" in done.stdout, "eval reported"
    finally:
        stop(work)


def test_run_with_nothing_built_names_the_command_that_builds_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOPBOT_")}
    env.update(SHOPBOT_VAR_DIR=str(tmp_path / "var"), SHOPBOT_RASA_PROJECT=str(STARTER),
               PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([str(VENV / "bin" / "shopbot"), "run"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert "run `shopbot setup` first (with the same SHOPBOT_RASA_PROJECT)" in done.stderr
    assert "Traceback" not in done.stderr
