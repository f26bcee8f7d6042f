"""A throwaway Redis server in a temp dir (Debian's redis-server package)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from harness.server_process import free_port, terminate, wait_listening


@contextmanager
def redis_server() -> Iterator[str]:
    """Start redis-server on a free loopback port, without persistence; yields its URL."""
    binary = shutil.which("redis-server")
    assert binary is not None, "redis-server is not installed: run scripts/install-system-deps.sh"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="shopbot-redis-") as tmp:
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(port, proc, "redis-server")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            terminate(proc)
