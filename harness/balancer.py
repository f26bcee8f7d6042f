"""A throwaway HAProxy (Debian's haproxy package) with the shipped config, in front of test workers."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.server_process import free_port, terminate, wait_listening

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
_WORKERS = re.compile(r"( *)# -- workers: begin --\n.*?# -- workers: end --\n", re.S)


def render(ports: Sequence[int]) -> str:
    """The shipped config with these local workers in place of the compose service's replicas."""
    text = CONFIG.read_text(encoding="utf-8")
    match = _WORKERS.search(text)
    assert match is not None, f"{CONFIG} lost its workers markers"
    indent = match.group(1)
    servers = "".join(f"{indent}server w{i} 127.0.0.1:{port} check\n" for i, port in enumerate(ports, 1))
    return text[: match.start()] + servers + text[match.end():]


@dataclass(frozen=True)
class Balancer:
    """A running HAProxy: the shoppers' base URL and its stats page."""

    base: str
    stats: str
    log: Path


@contextmanager
def haproxy(ports: Sequence[int]) -> Iterator[Balancer]:
    """Start HAProxy on a free port in front of workers on ``ports``; stopped afterwards."""
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    assert Path(binary).exists(), "haproxy is not installed: run scripts/install-system-deps.sh"
    port, stats_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="shopbot-haproxy-") as tmp:
        cfg = Path(tmp) / "haproxy.cfg"
        cfg.write_text(render(ports), encoding="utf-8")
        env = {"SHOPBOT_LB_BIND": f"127.0.0.1:{port}", "SHOPBOT_LB_STATS_BIND": f"127.0.0.1:{stats_port}",
               "PATH": "/usr/sbin:/usr/bin:/bin"}
        check = subprocess.run([binary, "-c", "-f", str(cfg)], env=env, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        log = Path(tmp) / "haproxy.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], env=env, stdout=out, stderr=out)
        try:
            wait_listening(port, proc, "haproxy", log=log)
            yield Balancer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{stats_port}", log)
        finally:
            terminate(proc)
