"""A Rasa project's rich responses in the widget, in real headless Chromium: the image a Rasa
response sends shows as it arrives over socket.io and again in the history a returning shopper
gets back from the turn log.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, Route, expect

from core.settings import REPO_ROOT, Settings
from tests.bot.channels.test_socketio import app_with_socketio
from tests.identity import IDENTITY_ENV
from tests.retrieval.test_rasa_project import SELECTOR
from tests.web.conftest import Pages
from tests.web.test_widget_browser import FORGET_ENTRIES, Wire, ask, panel

pytestmark = pytest.mark.browser

# responseselectorbot's utter_cheer_up image: the machine has no internet, so the browser is
# served a 1x1 PNG for it (a fake only at the external boundary, the image host).
CHEER_UP = "https://i.imgur.com/nGF1K8f.jpg"
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@pytest.fixture
async def origin(aiohttp_server: Any, selector_var: Path, tmp_path: Path) -> str:
    settings = Settings(var_dir=selector_var, rasa_project=SELECTOR,
                        database_url=f"sqlite:///{tmp_path / 'turns.db'}", web_dir=REPO_ROOT / "web",
                        journal_dir=tmp_path / "journal", identity_secret_env=IDENTITY_ENV)
    app, _channel = app_with_socketio(settings)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
async def page(pages: Pages) -> AsyncIterator[Page]:
    """A page whose requests to the image host get ``PIXEL``; only ``CHEER_UP`` may be asked for."""
    page = await pages.page()
    fetched: list[str] = []

    async def image_host(route: Route) -> None:
        fetched.append(route.request.url)
        await route.fulfill(status=200, content_type="image/png", body=PIXEL)

    await page.route("https://i.imgur.com/**", image_host)
    yield page
    assert set(fetched) <= {CHEER_UP}


async def test_a_rasa_image_shows_live_and_in_the_history(page: Page, origin: str) -> None:
    wire = Wire(page)
    await page.goto(origin + "/")
    await page.get_by_role("button", name=re.compile("^Open chat")).click()
    turn = await ask(page, wire, "/mood_unhappy")
    assert {"attachment": {"type": "image", "payload": {"src": CHEER_UP}}} in [
        {k: v for k, v in m.items() if k == "attachment"} for m in turn.messages
    ]
    image = page.locator(".sb-msg--bot .sb-image")
    await expect(image).to_have_attribute("src", CHEER_UP)
    await expect(page.locator(".sb-msg--bot .sb-bubble")).to_have_text(
        ["Here is something to cheer you up:", "Did that help you?"]
    )

    # Back on another device (the page's own copy gone): the turn log gives the image back.
    await page.add_init_script(FORGET_ENTRIES)
    await page.goto("about:blank")
    await page.goto(origin + "/")
    await expect(panel(page)).to_be_visible()
    await expect(page.locator(".sb-msg--user .sb-bubble")).to_have_text(["/mood_unhappy"])
    await expect(page.locator(".sb-msg--bot .sb-image")).to_have_attribute("src", CHEER_UP)
    await expect(page.locator(".sb-msg--bot .sb-bubble")).to_have_text(
        ["Here is something to cheer you up:", "Did that help you?"]
    )
