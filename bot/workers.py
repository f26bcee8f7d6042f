"""``shopbot run --workers N``: N server processes sharing one port, the turn log and Redis.

Each worker is a whole Shopbot (its own models and event loop) bound with ``SO_REUSEPORT``, so
the kernel spreads connections between them. The supervisor only starts, watches and stops
them: a worker that dies is started again (after a short pause if it keeps dying), and SIGTERM
or SIGINT stops them all cleanly. What workers must share lives outside them: the database
(turn log, handoffs, reviews), Redis (socket.io rooms, console events, conversation locks) and
the journal directory, where each worker claims its own slot.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from multiprocessing.process import BaseProcess
from types import FrameType

from core.errors import BadRequest
from core.settings import Settings

log = logging.getLogger(__name__)

_RESTART_PAUSE_S = 2.0
_STOP_GRACE_S = 30.0


def serve(settings: Settings, workers: int) -> None:
    """Serve on ``settings.host:port`` with ``workers`` processes (1: this process)."""
    if workers < 1:
        raise BadRequest("--workers must be at least 1")
    if workers == 1:
        _serve_one(settings, reuse_port=False)
        return
    if not settings.redis_url:
        # Without Redis, socket.io rooms, staff console events and per-conversation locks
        # would stay inside one worker: turns of one conversation could race.
        raise BadRequest("several workers share conversations through Redis: set SHOPBOT_REDIS_URL")
    Supervisor(settings, workers).run()


def _serve_one(settings: Settings, *, reuse_port: bool) -> None:
    from bot.server import create_app
    from bot.web.clients import parse_networks
    from bot.web.connections import ConnectionLimits, serve

    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    limits = ConnectionLimits(header_timeout_s=settings.header_timeout_s,
                              body_timeout_s=settings.body_timeout_s,
                              max_per_address=settings.max_connections_per_address,
                              exempt=parse_networks(settings.trusted_proxies))
    serve(create_app(settings), settings.host, settings.port, limits, reuse_port=reuse_port)


def _worker_main(settings: Settings) -> None:
    # The supervisor forwards SIGTERM; a Ctrl-C in the terminal reaches every process at once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _serve_one(settings, reuse_port=True)


class Supervisor:
    """Starts ``workers`` processes, restarts any that dies, stops them all on a signal."""

    def __init__(self, settings: Settings, workers: int) -> None:
        self._settings = settings
        self._workers = workers
        # spawn: a fresh interpreter per worker, so no thread or model state is forked.
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[BaseProcess] = []
        self._stopping = False

    def _start(self) -> BaseProcess:
        proc = self._ctx.Process(target=_worker_main, args=(self._settings,), daemon=False)
        proc.start()
        log.info("worker %s started", proc.pid)
        return proc

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> None:
        """Supervise until SIGTERM or SIGINT, then stop every worker and wait for it."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self._procs = [self._start() for _ in range(self._workers)]
        last_restart = 0.0
        while not self._stopping:
            for i, proc in enumerate(self._procs):
                if proc.is_alive() or self._stopping:
                    continue
                log.warning("worker %s exited with %s; starting another", proc.pid, proc.exitcode)
                if time.monotonic() - last_restart < _RESTART_PAUSE_S:
                    time.sleep(_RESTART_PAUSE_S)  # a worker that dies at start-up must not spin
                last_restart = time.monotonic()
                self._procs[i] = self._start()
            time.sleep(0.2)
        for proc in self._procs:
            if proc.is_alive() and proc.pid is not None:
                proc.terminate()
        deadline = time.monotonic() + _STOP_GRACE_S
        for proc in self._procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
