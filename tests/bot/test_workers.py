"""``shopbot run --workers N``: N processes on one port, a dead one replaced, all stopped together."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import aiohttp
import pytest

from harness.polling import until
from harness.redis_server import redis_server
from harness.server_process import SHOPBOT, ShopbotProcess


def workers_of(supervisor: int) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{supervisor}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:  # a thread that ended while we looked
            continue
        for pid in children:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except FileNotFoundError:  # a killed worker reaped between the two reads: gone
                continue
            if b"spawn_main" in cmdline:
                found.append(int(pid))
    return sorted(found)


async def turns(base: str, n: int, tag: str) -> list[int]:
    """``n`` REST turns, each on a new connection so that the kernel can pick any worker."""
    statuses = []
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(n):
            body = {"sender": f"{tag}-{i}", "message": "how long does delivery take?"}
            async with session.post(base + "/webhooks/rest/webhook", json=body) as resp:
                answer = await resp.json()
                statuses.append(resp.status if answer and answer[0].get("text") else 0)
    return statuses


def listeners(port: int) -> int:
    """Listening sockets on ``port`` (one per worker: each binds it with SO_REUSEPORT)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A")


def test_several_workers_need_redis(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHOPBOT_REDIS_URL"}
    env["SHOPBOT_VAR_DIR"] = str(tmp_path)
    out = subprocess.run([str(SHOPBOT), "run", "--workers", "2"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    assert "SHOPBOT_REDIS_URL" in out.stderr


def test_zero_workers_is_refused(tmp_path: Path) -> None:
    out = subprocess.run([str(SHOPBOT), "run", "--workers", "0"], env={**os.environ,
                         "SHOPBOT_VAR_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "at least 1" in out.stderr


@pytest.mark.slow
async def test_two_workers_share_the_port_and_a_dead_one_is_replaced(built_var: Path, tmp_path: Path) -> None:
    with redis_server() as redis_url:
        server = ShopbotProcess(built_var, f"sqlite:///{tmp_path / 'turns.sqlite3'}",
                                {"SHOPBOT_JOURNAL_DIR": str(tmp_path / "journal"),
                                 "SHOPBOT_REDIS_URL": redis_url},
                                run_args=("--workers", "2"))
        await server.start()
        try:
            assert server.proc is not None
            supervisor = server.proc.pid
            first = workers_of(supervisor)
            assert len(first) == 2
            await until(lambda: listeners(server.port) == 2, timeout_s=120, interval_s=0.2,
                        what="both workers listening on the port")
            assert await turns(server.base, 10, "a") == [200] * 10
            # Each worker in turn is killed; the other answers every turn meanwhile, so both
            # serve the shared port, and the supervisor starts a replacement each time.
            for victim in first:
                os.kill(victim, signal.SIGKILL)
                # Until the kernel has closed the dead worker's socket, a new connection may
                # still land there and be reset: that is kill -9, not something to hide.
                await until(lambda v=victim: v not in workers_of(supervisor) and listeners(server.port) == 1,
                            timeout_s=120, interval_s=0.2, what=f"worker {victim} gone and its socket closed")
                assert await turns(server.base, 10, f"k{victim}") == [200] * 10
                await until(lambda: len(workers_of(supervisor)) == 2 and listeners(server.port) == 2,
                            timeout_s=120, interval_s=0.2, what="a replacement worker listening")
            now = workers_of(supervisor)
            assert not set(now) & set(first)
            assert await turns(server.base, 10, "b") == [200] * 10
        finally:
            server.stop()
        assert server.proc is not None and server.proc.returncode == 0
        for pid in first + now:
            assert not Path(f"/proc/{pid}").exists() or b"zombie" in Path(f"/proc/{pid}/status").read_bytes()
