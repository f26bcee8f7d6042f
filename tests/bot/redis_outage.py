"""A real redis-server that a test can stop and start again on the same port (an outage)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.server_process import free_port, terminate, wait_listening


class StoppableRedis:
    """redis-server on a fixed loopback port, without persistence; ``stop`` and ``start`` at will."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed: run scripts/install-system-deps.sh"
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[Any] | None = None

    def start(self) -> None:
        """Start it (again) on its port; returns once it accepts connections."""
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_listening(self.port, self.proc, "redis-server")

    def stop(self) -> None:
        """Stop it (SIGTERM): every connection to it is refused until ``start``."""
        if self.proc is not None and self.proc.poll() is None:
            terminate(self.proc)
        self.proc = None


@contextmanager
def stoppable_redis() -> Iterator[StoppableRedis]:
    """A started :class:`StoppableRedis`, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="shopbot-redis-") as tmp:
        server = StoppableRedis(Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()
