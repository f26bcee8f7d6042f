"""The one way tests and benchmarks wait for something: poll a check until it holds or time runs out.

``until`` (async) and ``until_sync`` (blocking) call ``check`` every ``interval_s`` seconds and
return its first truthy value, so a getter can be both the condition and the result (``await
until(find_row, ...)`` hands back the row). ``check`` may be a plain function or a coroutine
function. When ``timeout_s`` has passed they raise an ``AssertionError`` that names ``what`` was
awaited and the last value the check gave, so a failed wait reads as a failed assertion.

An exception raised by ``check`` ends the wait at once (a crashed server process should fail the
test now, not in a minute) unless its type is in ``ignoring`` (a refused connection while a server
starts): then it counts as "not yet", and it is what the error shows if time runs out.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, overload

T = TypeVar("T")
Ignored = tuple[type[BaseException], ...]


@overload
async def until(check: Callable[[], Awaitable[T | None]], *, timeout_s: float, what: str,
                interval_s: float = ..., ignoring: Ignored = ...,
                show: Callable[[], object] | None = ...) -> T: ...


@overload
async def until(check: Callable[[], T | None], *, timeout_s: float, what: str,
                interval_s: float = ..., ignoring: Ignored = ...,
                show: Callable[[], object] | None = ...) -> T: ...


async def until(check: Callable[[], object], *, timeout_s: float, what: str,
                interval_s: float = 0.05, ignoring: Ignored = (),
                show: Callable[[], object] | None = None) -> object:
    """Await ``check`` until it returns something truthy; that value.

    ``show``, if given, is called when time runs out and what it returns is added to the message
    (a log file, the events received so far).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            outcome = check()
            last: object = await outcome if inspect.isawaitable(outcome) else outcome
        except ignoring as err:
            last = err
        else:
            if last:
                return last
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(_gave_up(what, timeout_s, last, show))
        await asyncio.sleep(min(interval_s, left))


def until_sync(check: Callable[[], T | None], *, timeout_s: float, what: str, interval_s: float = 0.05,
               ignoring: Ignored = (), show: Callable[[], object] | None = None) -> T:
    """``until`` for blocking code (no event loop): call ``check`` until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            last: object = check()
        except ignoring as err:
            last = err
        else:
            if last:
                return last  # type: ignore[return-value]
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(_gave_up(what, timeout_s, last, show))
        time.sleep(min(interval_s, left))


def _gave_up(what: str, timeout_s: float, last: object, show: Callable[[], object] | None) -> str:
    message = f"gave up after {timeout_s:g} s waiting for {what}; last seen: {last!r}"
    return message if show is None else f"{message}\n{show()}"
