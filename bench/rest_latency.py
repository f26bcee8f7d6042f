"""REST turn latency per route and throughput at 1 and 32 concurrent sessions.

Starts the real server (``shopbot run``) on a free loopback port with a throwaway turn log,
drives it over HTTP and writes a Markdown report.

    make bench            # = python bench/rest_latency.py --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROUTES = {
    "faq": [
        "how long does delivery take?",
        "can I return an item?",
        "do you ship to Germany?",
        "what payment methods do you accept?",
    ],
    "products": [
        "do you sell cookie jars?",
        "gifts under £5",
        "show me christmas decorations",
        "have you got lunch bags?",
    ],
    "recommend": ["recommend something", "any gift ideas?"],
    "order_status": ["where is my order 573415", "track order 553156"],
    "generate": [
        "is the glass cookie jar good for storing biscuits?",
        "would the jumbo bag red retrospot be big enough for shopping?",
    ],
    "decline": ["what's the weather in Paris", "who won the football last night?"],
    "handoff": ["I want to talk to a person", "can I speak to a human please"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def turn(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> float:
    start = time.perf_counter()
    async with session.post(url, json={"sender": sender, "message": text}) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{resp.status} for {text!r}")
    return (time.perf_counter() - start) * 1000


async def per_route(url: str, n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with aiohttp.ClientSession() as session:
        for route, texts in ROUTES.items():
            await turn(session, url, f"warm-{route}", texts[0])
            out[route] = [await turn(session, url, f"{route}-{i}", texts[i % len(texts)]) for i in range(n)]
    return out


async def throughput(url: str, sessions: int, turns_each: int, routes: list[str]) -> float:
    mix = [t for r in routes for t in ROUTES[r]]

    async def shopper(i: int, session: aiohttp.ClientSession) -> None:
        for j in range(turns_each):
            # A new conversation per turn: a handoff text would otherwise hand the rest to a person.
            await turn(session, url, f"tp{sessions}-{i}-{j}", mix[(i + j) % len(mix)])

    conn = aiohttp.TCPConnector(limit=sessions)
    async with aiohttp.ClientSession(connector=conn) as session:
        start = time.perf_counter()
        await asyncio.gather(*(shopper(i, session) for i in range(sessions)))
        return sessions * turns_each / (time.perf_counter() - start)


def start_server(port: int, db: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHOPBOT_PORT": str(port),
        "SHOPBOT_DATABASE_URL": f"sqlite:///{db}",
        "SHOPBOT_LOG_LEVEL": "WARNING",
    }
    shopbot = Path(sys.executable).parent / "shopbot"
    return subprocess.Popen([str(shopbot), "run"], env=env)


async def wait_ready(base: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    async with aiohttp.ClientSession() as session:
        while time.time() < deadline:
            try:
                async with session.get(f"{base}/health") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise TimeoutError("server did not start")


def report(lat: dict[str, list[float]], tp: dict[str, float], rss: float, n: int) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, default settings (in-process rasa-sdk actions, "
        "the shop's own small GPT-2, SQLite turn log).",
        "",
        f"Command: `make bench` (ran as `python {' '.join(sys.argv)}`). Client and server share "
        "the same 2 cores; latencies are client-side, over loopback HTTP. Load average when the "
        f"run started: {LOAD_AT_START}.",
        "",
        f"## REST turn latency per route ({n} sequential turns per route, after one warm-up turn)",
        "",
        "| route | p50 ms | p95 ms | mean ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for route, values in lat.items():
        lines.append(
            f"| {route} | {percentile(values, 50):.1f} | {percentile(values, 95):.1f} | "
            f"{statistics.fmean(values):.1f} |"
        )
    lines += ["", "## Throughput", "", "| traffic | sessions | turns/s |", "| --- | ---: | ---: |"]
    for label, value in tp.items():
        mix, sessions = label.split("@")
        lines.append(f"| {mix} | {sessions} | {value:.1f} |")
    lines += ["", f"Server resident memory after the run: {rss:.0f} MiB.", ""]
    return "\n".join(lines)


LOAD_AT_START = " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main_async(args: argparse.Namespace) -> str:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(port, Path(tmp) / "bench.sqlite3")
        try:
            await wait_ready(base)
            url = f"{base}/webhooks/rest/webhook"
            lat = await per_route(url, args.turns)
            all_routes = list(ROUTES)
            no_gen = [r for r in ROUTES if r != "generate"]
            tp = {}
            for sessions, each in ((1, args.turns), (32, max(2, args.turns // 4))):
                tp[f"all routes, 1 in {len(ROUTES)} generated@{sessions}"] = await throughput(
                    url, sessions, each, all_routes
                )
                tp[f"retrieval and action routes (no generation)@{sessions}"] = await throughput(
                    url, sessions, each, no_gen
                )
            rss = rss_mib(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    return report(lat, tp, rss, args.turns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40, help="turns per route")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()
    text = asyncio.run(main_async(args))
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
