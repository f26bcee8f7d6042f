"""The catalogue sources' shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.oscar_server import OscarServer


@pytest.fixture(scope="session")
def oscar_shop() -> Iterator[OscarServer]:
    """A real django-oscar shop with its sample catalogue, served for the whole session."""
    with OscarServer() as shop:
        yield shop
