"""Shared by the browser tests: Debian's Chromium, launched headless, and the pages a test opens in it.

Every browser test gets its pages from ``pages``: fresh browser profiles whose script errors and
console errors are collected in ``pages.problems``, which must be empty when the test ends (a test
that provokes an error on purpose checks it and clears it). Each test module provides ``origin``,
the server its pages talk to: ``pages`` depends on it, so the pages close before that server stops
and never see it go away.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, WebError, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Pages:
    """Browser profiles opened for one test, and every script or console error their pages saw."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.problems: list[str] = []
        self._contexts: list[BrowserContext] = []

    async def context(self, width: int = 1100, height: int = 800) -> BrowserContext:
        """A fresh profile (its own cookies and storage) with a ``width`` × ``height`` viewport."""
        context = await self.browser.new_context(viewport={"width": width, "height": height})
        context.on("weberror", self._script_error)
        context.on("console", self._console_error)
        self._contexts.append(context)
        return context

    async def page(self, width: int = 1100, height: int = 800) -> Page:
        """A page in a fresh profile."""
        return await (await self.context(width, height)).new_page()

    async def close(self) -> None:
        """Close every profile opened so far."""
        for context in self._contexts:
            await context.close()
        self._contexts.clear()

    def _script_error(self, error: WebError) -> None:
        self.problems.append(f"page error: {error.error}")

    def _console_error(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"{message.text} at {message.location.get('url', '')}")


@asynccontextmanager
async def chromium() -> AsyncIterator[Pages]:
    """Debian's Chromium, headless (never Playwright's downloaded build); closed afterwards."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield Pages(browser)
        finally:
            await browser.close()


@pytest.fixture
async def pages(origin: str) -> AsyncIterator[Pages]:
    """Pages for this test on ``origin``'s server, closed before it stops; no script or console error."""
    async with chromium() as opened:
        yield opened
        await opened.close()
    assert opened.problems == []


@pytest.fixture
async def page(pages: Pages) -> Page:
    """One page in a fresh 1100 × 800 profile."""
    return await pages.page()
