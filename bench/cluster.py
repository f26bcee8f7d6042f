"""Cluster: 1, 2 and 4 ``shopbot run`` workers behind HAProxy, on one PostgreSQL and one Redis.

Starts the real thing (deploy/haproxy/haproxy.cfg in front of N worker processes, each with its
own journal, all sharing a throwaway PostgreSQL and Redis), drives 64 closed-loop shoppers over
Rasa's REST channel through the balancer with FAQ questions the router never saw, and writes
throughput, p50/p95, errors and resident memory per worker count into docs/benchmarks.md
(its own section, replaced on each run). One worker straight, without the balancer, is the
baseline for what the extra hop costs.

    make bench                                   # includes: python bench/cluster.py
    python bench/cluster.py --seconds 10 --out /tmp/cluster.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.serving import (  # noqa: E402
    UNSEEN_FAQ,
    Client,
    Report,
    closed_loop,
    encoder_ceiling,
    load,
    percentile,
    tree_rss_mib,
)
from core.settings import Settings  # noqa: E402
from harness.balancer import haproxy  # noqa: E402
from harness.pg import postgres  # noqa: E402
from harness.redis_server import redis_server  # noqa: E402
from harness.sections import replace_section  # noqa: E402
from harness.server_process import ShopbotProcess  # noqa: E402

BEGIN, END = "<!-- cluster: begin -->", "<!-- cluster: end -->"
SESSIONS = 64


async def measure(base: str, seconds: float) -> tuple[float, list[float], int]:
    """Warm up, then closed-loop shoppers for ``seconds``: turns/s, latencies, errors."""
    client = Client(base + "/webhooks/rest/webhook")
    await closed_loop(client, SESSIONS, 3)
    client.errors = 0
    rate, latencies = await closed_loop(client, SESSIONS, seconds)
    return rate, latencies, client.errors


async def run(counts: list[int], seconds: float) -> list[tuple[str, float, list[float], int, float, str]]:
    """One row per setting: (label, turns/s, latencies, errors, MiB per worker, load average)."""
    var_dir = Settings().var_dir
    rows = []
    with postgres() as pg, redis_server() as redis_url, tempfile.TemporaryDirectory(prefix="sb-cl-") as tmp:
        started: list[ShopbotProcess] = []
        try:
            for n in sorted(set(counts)):
                while len(started) < n:  # workers added one by one, sharing everything but the journal
                    env = {"SHOPBOT_REDIS_URL": redis_url, "SHOPBOT_TRUSTED_PROXIES": "127.0.0.1/32",
                           "SHOPBOT_JOURNAL_DIR": str(Path(tmp) / f"journal-{len(started) + 1}")}
                    worker = ShopbotProcess(var_dir, pg.url, env)
                    await worker.start(timeout_s=300)
                    started.append(worker)
                if n == 1:
                    rate, lat, errors = await measure(started[0].base, seconds)
                    rows.append(("1 worker, no balancer", rate, lat, errors, _rss(started), load()))
                with haproxy([w.port for w in started]) as lb:
                    await asyncio.sleep(2.5)  # health checks mark every worker UP
                    rate, lat, errors = await measure(lb.base, seconds)
                    label = f"{n} worker{'s' if n > 1 else ''} behind HAProxy"
                    rows.append((label, rate, lat, errors, _rss(started), load()))
                print(rows[-1][0], f"{rows[-1][1]:.0f} turns/s", flush=True)
        finally:
            for worker in started:
                worker.stop()
    return rows


def _rss(workers: list[ShopbotProcess]) -> float:
    return sum(tree_rss_mib(w.proc.pid) for w in workers if w.proc) / len(workers)


def section(rows: list[tuple[str, float, list[float], int, float, str]], ceiling: float, argv: list[str],
            when: str) -> str:
    """The Markdown section for docs/benchmarks.md."""
    lines = [
        BEGIN,
        "## Cluster: workers behind a load balancer",
        "",
        f"Measured {when} UTC on {os.cpu_count()} cores ({platform.processor() or platform.machine()}). "
        f"Command: `python {' '.join(argv)}` (in `make bench`). Each worker is a separate `shopbot run` "
        "(its own models, event loop and journal) on one throwaway PostgreSQL and one Redis; HAProxy "
        f"runs deploy/haproxy/haproxy.cfg; {SESSIONS} closed-loop shoppers send unseen FAQ questions "
        "over Rasa's REST channel. Load generator, balancer, database and workers share the same cores. "
        f"The machine's ceiling, measured first in the same run: PyTorch all-MiniLM-L6-v2 batched 64 at "
        f"a time on every core, {ceiling:.0f} encodes/s.",
        "",
        "| setting | turns/s | ÷ ceiling | p50 ms | p95 ms | errors | MiB per worker | load average |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for label, rate, lat, errors, rss, avg in rows:
        lines.append(f"| {label} | {rate:.0f} | {rate / ceiling:.2f} × | {percentile(lat, 50):.1f} | "
                     f"{percentile(lat, 95):.1f} | {errors} | {rss:.0f} | {avg} |")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write(out: Path, text: str) -> None:
    """Replace this benchmark's section of ``out`` (or append it)."""
    replace_section(out, text, BEGIN, END)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=15, help="length of each load run")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    ceiling = Report()
    encoder_ceiling(ceiling, UNSEEN_FAQ)
    rows = asyncio.run(run([int(n) for n in args.workers.split(",")], args.seconds))
    text = section(rows, ceiling.numbers["ceiling"], ["bench/cluster.py", *sys.argv[1:]], when)
    write(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
