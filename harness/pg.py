"""A throwaway PostgreSQL server in a temp dir (Debian's postgresql package)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.polling import until_sync


def pg_bin() -> Path | None:
    """Directory of initdb/pg_ctl, if PostgreSQL is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # initdb refuses to run as root; CI runs as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class Postgres:
    """A throwaway PostgreSQL server that a test can stop and start again (an outage)."""

    def __init__(self, data: Path, port: int) -> None:
        self.data = data
        self.port = port
        bindir = pg_bin()
        assert bindir is not None, "PostgreSQL is not installed: run scripts/install-system-deps.sh"
        self.bindir = bindir

    @property
    def url(self) -> str:
        """A SQLAlchemy URL of the server."""
        return f"postgresql+psycopg2://shopbot@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            _as_postgres_user(
                [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.data / "log"),
                 "-w", "start"]
            ),
            check=True,
            capture_output=True,
        )
        until_sync(self._accepting, timeout_s=20, interval_s=0.1,
                   what=f"PostgreSQL to accept connections on port {self.port}")

    def _accepting(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: as if it crashed; ``fast``: a clean shutdown)."""
        subprocess.run(
            _as_postgres_user([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "stop"]),
            capture_output=True,
        )


@contextmanager
def postgres() -> Iterator[Postgres]:
    """A fresh PostgreSQL on a free loopback port, started; removed afterwards."""
    bindir = pg_bin()
    assert bindir is not None, "PostgreSQL is not installed: run scripts/install-system-deps.sh"
    # Not under pytest's tmp dir: that one is private to root, and initdb must run as postgres.
    data = Path(tempfile.mkdtemp(prefix="shopbot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
    subprocess.run(
        _as_postgres_user(
            [str(bindir / "initdb"), "-D", str(data), "-U", "shopbot", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    server = Postgres(data, _free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start PostgreSQL on a free loopback port; yields a SQLAlchemy URL."""
    with postgres() as server:
        yield server.url
