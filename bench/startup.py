"""How long a worker is away: ``shopbot run`` from launch until ``GET /health`` answers 200.

Starts the server ``--runs`` times on the built ``var/`` (``make setup``) with a throwaway SQLite
log and journal, and reports each start, their median, and whether PyTorch was mapped into
the process. ``--repo`` runs another checkout's code (e.g. an older commit's worktree) on the
same ``var/``, for a before/after in one sitting:

    python bench/startup.py --runs 5
    git worktree add /tmp/before <commit> && python bench/startup.py --runs 5 --repo /tmp/before
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings  # noqa: E402
from harness.server_process import ShopbotProcess, mapped_libraries  # noqa: E402


async def one_start(var_dir: Path, repo: Path | None) -> tuple[float, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {"SHOPBOT_JOURNAL_DIR": str(Path(tmp) / "journal")}
        if repo is not None:  # the other checkout's code first on the same interpreter's path
            env["PYTHONPATH"] = str(repo)
        server = ShopbotProcess(var_dir, f"sqlite:///{Path(tmp) / 'log.sqlite3'}", env)
        started = time.monotonic()
        await server.start()
        seconds = time.monotonic() - started
        assert server.proc is not None
        torch = any(name.startswith("libtorch") for name in mapped_libraries(server.proc.pid))
        server.stop()
    return seconds, torch


async def main_async(args: argparse.Namespace) -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results = [await one_start(args.var_dir, args.repo) for _ in range(args.runs)]
    times = [s for s, _ in results]
    code = args.repo or Path(__file__).resolve().parent.parent
    return (f"code {code}: starts {', '.join(f'{s:.1f}' for s in times)} s; "
            f"median {statistics.median(times):.1f} s; PyTorch mapped: {any(t for _, t in results)}; "
            f"load average before {load}, after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--var-dir", type=Path, default=Settings().var_dir)
    parser.add_argument("--repo", type=Path, help="run this checkout's code instead of this one's")
    print(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
