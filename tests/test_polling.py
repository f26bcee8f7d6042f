"""harness.polling: the one helper every test waits with."""

from __future__ import annotations

import time

import pytest

from harness.polling import until, until_sync


class Counter:
    """A value that turns up on the ``ready_at``-th look."""

    def __init__(self, ready_at: int) -> None:
        self.looks = 0
        self.ready_at = ready_at

    def look(self) -> str | None:
        self.looks += 1
        return f"ready on look {self.looks}" if self.looks >= self.ready_at else None

    async def look_async(self) -> str | None:
        return self.look()


async def test_until_returns_the_first_truthy_value_of_a_sync_or_async_check() -> None:
    plain, coroutine = Counter(3), Counter(2)
    assert await until(plain.look, timeout_s=5, interval_s=0.001, what="a value") == "ready on look 3"
    assert await until(coroutine.look_async, timeout_s=5, interval_s=0.001, what="a value") == (
        "ready on look 2")
    assert (plain.looks, coroutine.looks) == (3, 2)


async def test_until_gives_up_naming_what_it_waited_for_and_the_last_value() -> None:
    shown: list[str] = []
    started = time.monotonic()
    with pytest.raises(AssertionError) as gave_up:
        await until(lambda: shown, timeout_s=0.2, interval_s=0.01, what="something shown",
                    show=lambda: "the log says hi")
    assert 0.2 <= time.monotonic() - started < 2
    assert str(gave_up.value) == (
        "gave up after 0.2 s waiting for something shown; last seen: []\nthe log says hi")


async def test_an_error_in_the_check_ends_the_wait_unless_it_is_ignored() -> None:
    looks: list[int] = []

    def refused_twice() -> bool:
        looks.append(1)
        if len(looks) < 3:
            raise ConnectionRefusedError("not listening yet")
        return True

    assert await until(refused_twice, timeout_s=5, interval_s=0.001, ignoring=(OSError,), what="a listener")
    looks.clear()
    with pytest.raises(ConnectionRefusedError):
        await until(refused_twice, timeout_s=5, interval_s=0.001, what="a listener")
    assert looks == [1], "not called again after the error"

    def refused() -> bool:
        raise ConnectionRefusedError("not listening yet")

    with pytest.raises(AssertionError, match=r"last seen: ConnectionRefusedError\('not listening yet'\)"):
        await until(refused, timeout_s=0.05, interval_s=0.01, ignoring=(OSError,), what="a listener")


def test_until_sync_waits_without_an_event_loop() -> None:
    counter = Counter(4)
    assert until_sync(counter.look, timeout_s=5, interval_s=0.001, what="a value") == "ready on look 4"
    with pytest.raises(AssertionError, match="gave up after 0.05 s waiting for nothing; last seen: None"):
        until_sync(lambda: None, timeout_s=0.05, interval_s=0.01, what="nothing")
