"""One aiohttp connection pool per event loop, for the connectors that ask a shop over HTTP."""

from __future__ import annotations

import asyncio

import aiohttp


class LoopSession:
    """The client session of the running event loop (a session cannot outlive or change its loop)."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> aiohttp.ClientSession:
        """The pool of the running loop, opened on first use (again after a close or a new loop)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession()
            self._loop = loop
        return self._session

    async def close(self) -> None:
        """Close the pool (the server's actions context calls this on stop)."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
