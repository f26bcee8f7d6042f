"""A circuit breaker: a dead shop system costs the shopper no waiting."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from core.errors import Unavailable

T = TypeVar("T")


class CircuitBreaker:
    """Closed until ``failures`` calls in a row fail; then open (calls refused at once) for
    ``open_s`` seconds; then half-open: one trial call, which closes it again or re-opens it.
    """

    def __init__(self, failures: int = 5, open_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures = failures
        self.open_s = open_s
        self._clock = clock
        self._in_a_row = 0
        self._open_until: float | None = None
        self._trial = False

    def retry_after(self) -> float:
        """0 when a call may go ahead now (claiming the trial when half-open), else the seconds
        until the breaker lets one through."""
        if self._open_until is None:
            return 0.0
        left = self._open_until - self._clock()
        if left > 0:
            return left
        if self._trial:
            # One trial at a time: the others are refused until it has answered.
            return self.open_s
        self._trial = True
        return 0.0

    def succeeded(self) -> None:
        """The call got an answer: close the breaker."""
        self._in_a_row, self._open_until, self._trial = 0, None, False

    def failed(self) -> None:
        """The call failed: count it, and open (again) at the limit or after a failed trial."""
        self._in_a_row += 1
        if self._trial or self._in_a_row >= self.failures:
            self._open_until = self._clock() + self.open_s
            self._trial = False

    def abandoned(self) -> None:
        """The call was cancelled before it answered: it neither closes nor opens the breaker,
        and a trial it held goes to the next call."""
        self._trial = False

    @property
    def is_open(self) -> bool:
        """Whether calls are being refused right now (for logs and tests)."""
        return self._open_until is not None and (self._trial or self._clock() < self._open_until)


async def through(breaker: CircuitBreaker, ask: Callable[[], Awaitable[T]], refused: str) -> T:
    """``await ask()`` behind ``breaker``: refused at once with ``Unavailable(refused)`` while it is
    open; an ``Unavailable`` answer counts as a failure, a cancelled call as neither."""
    wait = breaker.retry_after()
    if wait > 0:
        raise Unavailable(refused, retry_after=max(1, math.ceil(wait)))
    try:
        answer = await ask()
    except Unavailable:
        breaker.failed()
        raise
    except BaseException:
        breaker.abandoned()
        raise
    breaker.succeeded()
    return answer
