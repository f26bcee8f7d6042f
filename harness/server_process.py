"""``shopbot run`` as a real process on a free port: for tests and benchmarks that kill it or its database."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp

from harness.polling import until, until_sync

SHOPBOT = Path(sys.executable).with_name("shopbot")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[Any], name: str, timeout_s: float = 10.0,
                   log: Path | None = None) -> None:
    """Wait until ``proc`` accepts connections on loopback ``port`` (fail at once if it exits)."""

    def accepting() -> bool:
        assert proc.poll() is None, log.read_text(errors="replace") if log else f"{name} exited"
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True

    until_sync(accepting, timeout_s=timeout_s, ignoring=(OSError,),
               what=f"{name} to accept connections on port {port}")


def terminate(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ShopbotProcess:
    """One server process; ``env`` adds or overrides ``SHOPBOT_*`` settings."""

    def __init__(self, var_dir: Path, database_url: str, env: dict[str, str] | None = None,
                 port: int | None = None, run_args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.run_args = run_args
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "SHOPBOT_PORT": str(self.port),
            "SHOPBOT_VAR_DIR": str(var_dir),
            "SHOPBOT_DATABASE_URL": database_url,
            "SHOPBOT_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def cli(self, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """Run another ``shopbot`` command with the same settings."""
        return subprocess.run([str(SHOPBOT), *argv], input=stdin, env=self.env, capture_output=True,
                              text=True, timeout=120, check=True)

    async def start(self, timeout_s: float = 180.0) -> None:
        """Start and wait until ``/health`` answers."""
        proc = self.proc = subprocess.Popen([str(SHOPBOT), "run", *self.run_args], env=self.env)
        async with aiohttp.ClientSession() as session:

            async def healthy() -> bool:
                assert proc.poll() is None, "the server exited during start-up"
                async with session.get(self.base + "/health") as resp:
                    return resp.status == 200

            await until(healthy, timeout_s=timeout_s, interval_s=0.2, ignoring=(aiohttp.ClientError,),
                        what=f"the server on port {self.port} to answer /health")

    def kill(self) -> None:
        """kill -9: no shutdown handlers, no draining."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM)."""
        if self.proc is not None and self.proc.poll() is None:
            terminate(self.proc, 60)

    async def ready(self, session: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        """``GET /health/ready``: status and body."""
        async with session.get(self.base + "/health/ready") as resp:
            return resp.status, await resp.json()


def mapped_libraries(pid: int) -> set[str]:
    """File names of the shared objects mapped into process ``pid`` (Linux ``/proc``)."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {Path(line.split()[-1]).name for line in lines if line.split()[-1].startswith("/")}


@contextlib.contextmanager
def serving(var_dir: Path, tmp: Path) -> Iterator[ShopbotProcess]:
    """A started server on its own SQLite log and journal under ``tmp``; stopped afterwards."""
    server = ShopbotProcess(var_dir, f"sqlite:///{tmp / 'turns.sqlite3'}",
                            {"SHOPBOT_JOURNAL_DIR": str(tmp / "journal")})
    asyncio.run(server.start())
    try:
        yield server
    finally:
        server.stop()
