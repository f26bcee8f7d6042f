"""Rate-limited logging: one line per cause per interval, with how many were held back.

An outage (Redis, the database) or a flood of malformed frames produces the same warning
thousands of times a second; one line per cause per interval keeps the log readable and its disk
safe while still saying how often it happened.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

# Causes tracked at once; the oldest is forgotten first (a client cannot grow this without bound).
_MAX_CAUSES = 1024


class RateLimitedLog:
    """Log at most one line per ``cause`` every ``interval_s`` seconds, counting the rest.

    The first occurrence of a cause is logged at once; later ones within the interval are counted
    and the next line logged for that cause says how many were suppressed since.
    """

    def __init__(
        self, logger: logging.Logger, interval_s: float = 60.0, *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        # cause -> (time of the last line written, occurrences held back since)
        self._state: dict[str, tuple[float, int]] = {}

    def log(self, level: int, cause: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg`` for ``cause`` unless one was logged within the interval; True if written."""
        now = self._clock()
        with self._lock:
            last, held = self._state.get(cause, (float("-inf"), 0))
            if now - last < self._interval:
                self._state[cause] = (last, held + 1)
                return False
            self._state.pop(cause, None)
            self._state[cause] = (now, 0)
            if len(self._state) > _MAX_CAUSES:
                del self._state[next(iter(self._state))]
        if held:
            msg = f"{msg} (and {held} more like it in the last {self._interval:.0f} s)"
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True

    def warning(self, cause: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """``log`` at WARNING."""
        return self.log(logging.WARNING, cause, msg, *args, exc_info=exc_info)

    def error(self, cause: str, msg: str, *args: object, exc_info: bool = False) -> bool:
        """``log`` at ERROR."""
        return self.log(logging.ERROR, cause, msg, *args, exc_info=exc_info)
