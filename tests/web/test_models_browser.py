"""The admins' Models page of the review console in real headless Chromium, on the real server.

Two registered candidates (``tests/registry.py``): the shuffled one fails the
gate and its deploy is refused; the good one is replayed over real traffic, deployed, and rolled
back to the seed router. An auditor never sees the page nor its data.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import BrowserContext, Dialog, Page, Request, expect

from bot.auth.guard import Role
from bot.lifecycle.registry import ModelKind
from bot.server import create_app
from bot.serving.models import REGISTRY
from bot.web.keys import USERS
from core.settings import Settings
from harness.polling import until

# Fixtures of the lifecycle tests (a non-root conftest cannot be shared with pytest_plugins).
from tests.registry import Registered
from tests.web.conftest import Pages

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ADMIN, AUDITOR, PASSWORD = "root", "ada", "a long enough password"
MARKUP = '<img src="x" onerror="window.__pwned = 1">'
TRAFFIC = ["how long does delivery take?", "do you do gift wrapping?", "can I return a gift",
           "what's the weather in Paris", "where is my order 581475", MARKUP, "hi"]
VIEWPORT = (1440, 1000)
OPERATION_MS = 90_000  # evaluate, replay, deploy and roll back load two routers on a busy machine
# What Chromium logs itself for the refusals this test provokes on purpose.
REFUSED = "Failed to load resource: the server responded with a status of {} at {}"


@dataclass
class Shop:
    origin: str
    app: web.Application


@pytest.fixture
async def shop(aiohttp_server: Any, lifecycle_settings: Settings) -> Shop:  # noqa: F811
    """The real application over the registry with both candidates, an admin and an auditor."""
    app = create_app(lifecycle_settings)
    server = await aiohttp_server(app)
    await asyncio.to_thread(app[USERS].add, ADMIN, PASSWORD, Role.ADMIN)
    await asyncio.to_thread(app[USERS].add, AUDITOR, PASSWORD, Role.AUDITOR)
    return Shop(str(server.make_url("")).rstrip("/"), app)


@pytest.fixture
def origin(shop: Shop) -> str:
    """The server the pages talk to (tests/web/conftest.py closes them before it stops)."""
    return shop.origin


async def watch_status(page: Page, box: str, button: str) -> None:
    """Record each text of the ``box`` status with whether ``button`` was disabled and busy then."""
    await page.evaluate("""([box, button]) => {
      window.__seen = [];
      const b = document.getElementById(button);
      new MutationObserver(() => window.__seen.push(
        [document.getElementById(box).textContent, b.disabled, b.classList.contains("busy")],
      )).observe(document.getElementById(box), { childList: true, characterData: true, subtree: true });
    }""", [box, button])


async def sign_in(context: BrowserContext, origin: str, user: str, role: Role) -> Page:
    page = await context.new_page()
    await page.goto(f"{origin}/review#models")
    login = page.locator("#login")
    await login.locator("input[name=username]").fill(user)
    await login.locator("input[name=password]").fill(PASSWORD)
    await login.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#who")).to_have_text(f"{user} ({role})")
    return page


async def send_traffic(origin: str) -> None:
    async with aiohttp.ClientSession() as http:
        for i, text in enumerate(TRAFFIC):
            message = {"sender": f"models-{i}", "message": text}
            async with http.post(f"{origin}/webhooks/rest/webhook", json=message) as r:
                assert r.status == 200, await r.text()


def row(page: Page, version: str) -> Any:
    return page.locator(f"#models tbody tr[data-version='{version}']")


async def select(page: Page, version: str) -> None:
    await row(page, version).locator("button.pick").click()
    await expect(page.locator("#model-title")).to_contain_text(version)


async def test_an_auditor_sees_no_models_page_and_gets_no_models_data(
    pages: Pages, shop: Shop
) -> None:
    context = await pages.context(*VIEWPORT)
    asked: list[str] = []
    context.on("request", lambda r: asked.append(r.url))
    page = await sign_in(context, shop.origin, AUDITOR, Role.AUDITOR)
    await expect(page.locator("#views")).to_be_visible()
    await expect(page.locator("#views a[data-view=changes]")).to_be_visible()
    await expect(page.locator("#models-link")).to_be_hidden()
    # #models in the address falls back to the turns view; the models view never loads.
    await expect(page.locator("#view-turns")).to_be_visible()
    await expect(page.locator("#view-models")).to_be_hidden()
    await page.evaluate("location.hash = '#models'")
    await expect(page.locator("#view-turns")).to_be_visible()
    await expect(page.locator("#view-models")).to_be_hidden()
    assert not [u for u in asked if "/api/models" in u]
    assert await page.locator("#models tbody tr").count() == 0
    assert await page.locator("#models-serving").text_content() == ""
    # And the API itself refuses an auditor.
    status = await page.evaluate("fetch('/api/models').then(r => r.status)")
    assert status == 403
    assert pages.problems == [REFUSED.format("401 (Unauthorized)", f"{shop.origin}/api/auth/me"),
                              REFUSED.format("403 (Forbidden)", f"{shop.origin}/api/models")]
    pages.problems.clear()  # provoked on purpose, and checked


async def test_an_admin_evaluates_replays_deploys_and_rolls_back_a_router(
    pages: Pages, shop: Shop, registered: Registered, tmp_path: Path,  # noqa: F811
) -> None:
    context = await pages.context(*VIEWPORT)
    good, shuffled = registered.good, registered.shuffled
    await send_traffic(shop.origin)
    dialogs: list[str] = []

    page = await sign_in(context, shop.origin, ADMIN, Role.ADMIN)
    await expect(page.locator("#models-link")).to_be_visible()
    await expect(page.locator("#models-link")).to_have_attribute("aria-current", "page")
    await expect(page.locator("#view-models")).to_be_visible()
    await expect(page.locator("#view-turns")).to_be_hidden()

    # Both candidates, nothing deployed: the worker serves the seed router.
    await expect(page.locator("#models tbody tr[data-version]")).to_have_count(2)
    for version in (good, shuffled):
        await expect(row(page, version)).to_have_attribute("data-state", "candidate")
        await expect(row(page, version).locator(".verdict")).to_have_text("not evaluated")
        await expect(row(page, version).locator(".accuracy")).to_have_text(re.compile(r"^\d+\.\d%$"))
    await expect(page.locator("#models-serving")).to_contain_text("seed router")
    await expect(page.locator("#model-events tbody")).to_contain_text("Nothing deployed yet.")
    await expect(page.locator("#rollback")).to_be_disabled()
    await expect(page.locator("#model")).to_be_hidden()

    # The shuffled candidate fails the gate: the checks side by side.
    await select(page, shuffled)
    await expect(page.locator("#model-metrics")).to_contain_text("held-out accuracy at threshold")
    await watch_status(page, "model-status", "evaluate")
    await page.locator("#evaluate").click()
    await expect(page.locator("#gate-summary")).to_contain_text("FAIL", timeout=OPERATION_MS)
    await expect(page.locator("#model-status")).to_have_text(f"{shuffled} fails the gate.")
    await expect(page.locator("#evaluate")).to_be_enabled()
    await expect(page.locator("#evaluate")).not_to_have_class(re.compile("busy"))
    seen = await page.evaluate("window.__seen")
    assert seen[0] == [f"Evaluating {shuffled} against the live version… 0 s", True, True], seen
    assert seen[-1] == [f"{shuffled} fails the gate.", False, False], seen
    checks = page.locator("#gate tbody tr[data-check]")
    await expect(checks).to_have_count(3)
    assert await page.locator("#gate tbody tr.failed").count() >= 1
    await expect(page.locator("#gate tbody tr.failed .result").first).to_have_text("FAIL")
    await expect(row(page, shuffled).locator(".verdict")).to_have_text("FAIL")

    # Its deploy is refused by the gate; "Deploy anyway" asks first (declined here).
    await page.locator("#deploy").click()
    await expect(page.locator("#model-error")).to_contain_text("fails the gate", timeout=OPERATION_MS)
    await expect(page.locator("#model-error")).to_contain_text(f"Refused: {shuffled} fails the gate")
    await expect(page.locator("#model-status")).to_have_text("")
    await expect(page.locator("#deploy-force")).to_be_visible()

    async def decline(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", decline)
    await page.locator("#deploy-force").click()
    await until(lambda: len(dialogs) == 1, timeout_s=10, what="the confirm dialog")
    assert "fails the gate" in dialogs[0]
    await expect(row(page, shuffled)).to_have_attribute("data-state", "candidate")
    await expect(page.locator("#model-events tbody")).to_contain_text("Nothing deployed yet.")

    # Its replay changes the shop's traffic: examples with the text and live → candidate routing.
    await page.locator("#replay").click()
    await expect(page.locator("#model-status")).to_contain_text(
        f"Replayed {len(TRAFFIC)} messages", timeout=OPERATION_MS)
    examples = page.locator("#replay-groups li[data-turn]")
    assert await examples.count() >= 1
    for text in await examples.locator(".text").all_text_contents():
        assert text in TRAFFIC
    arrow = re.compile(r"^\S+( \S+)? \(-?\d\.\d\d\) → \S+( \S+)? \(-?\d\.\d\d\)$")
    for routing in await examples.locator(".routes").all_text_contents():
        assert arrow.match(routing), routing
    assert await page.locator("#replay-groups img").count() == 0

    # The good candidate replayed over the shop's own traffic: the changes, grouped.
    await select(page, good)
    await expect(page.locator("#deploy-force")).to_be_hidden()
    await expect(page.locator("#model-error")).to_have_text("")
    replays: list[Request] = []
    page.on("request", lambda r: replays.append(r) if r.url.endswith("/replay") else None)
    await page.locator("#replay-limit").fill("100")
    await page.locator("#replay").click()
    await expect(page.locator("#replay-groups .replay-group")).to_have_count(3, timeout=OPERATION_MS)
    assert replays[0].post_data_json == {"limit": 100}
    await expect(page.locator("#replay-summary")).to_contain_text(f"of {len(TRAFFIC)} messages change")
    groups = page.locator("#replay-groups .replay-group")
    keys = await groups.evaluate_all("els => els.map(e => e.dataset.group)")
    assert keys == ["newly_answered", "newly_declined", "changed_answer"]
    counts = [int(c) for c in await groups.locator(".count").all_text_contents()]
    summary = page.locator("#replay-summary")
    await expect(summary).to_contain_text(f"{sum(counts)} of {len(TRAFFIC)} messages change")
    # Examples (if any change) are the redacted shopper texts, shown as text.
    for text in await page.locator("#replay-groups li .text").all_text_contents():
        assert text in TRAFFIC
    assert await page.locator("#replay-groups img").count() == 0
    assert await page.evaluate("window.__pwned") is None
    await expect(page.locator("#model-metrics")).to_contain_text(f"of {len(TRAFFIC)} messages change")

    # Deployed: live in the table, served by this worker, in the history under the admin's name.
    await page.locator("#deploy").click()
    await expect(row(page, good)).to_have_attribute("data-state", "live", timeout=OPERATION_MS)
    await expect(page.locator("#model-status")).to_contain_text(f"{good} is live")
    await expect(row(page, good).locator(".standing")).to_contain_text("serving")
    await expect(page.locator("#models-serving")).to_contain_text(f"This worker serves {good}+")
    await expect(page.locator("#deploy")).to_be_disabled()
    await expect(row(page, good).locator(".verdict")).to_have_text("pass")
    # The first deploy registered the seed router as a version: the rollback target.
    seed_row = page.locator("#models tbody tr[data-state=retired]")
    await expect(seed_row).to_have_count(1)
    seed = await seed_row.get_attribute("data-version")
    assert seed and seed not in (good, shuffled)
    deploy = page.locator(f"#model-events tbody tr[data-action=deploy]:has(td.version:text-is('{good}'))")
    await expect(deploy).to_have_count(1)
    await expect(deploy.locator(".actor")).to_have_text(ADMIN)
    await expect(deploy.locator(".forced")).to_have_text("no")
    await expect(deploy).to_contain_text(seed)
    await expect(page.locator("#rollback")).to_be_enabled()
    await page.screenshot(path=str(tmp_path / "review-models.png"), full_page=True)

    # Rolled back (after a confirm): the seed version is live and served again.
    async def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.accept()

    page.once("dialog", accept)
    await page.locator("#rollback").click()
    await expect(row(page, seed)).to_have_attribute("data-state", "live", timeout=OPERATION_MS)
    assert dialogs[-1] == f"Roll the router back from {good} to {seed}?"
    await expect(page.locator("#models-status")).to_contain_text(f"{seed} is live again")
    await expect(row(page, good)).to_have_attribute("data-state", "retired")
    await expect(page.locator("#models-serving")).to_contain_text(f"This worker serves {seed}+")
    latest = page.locator("#model-events tbody tr").first
    await expect(latest).to_have_attribute("data-action", "rollback")
    await expect(latest.locator(".actor")).to_have_text(ADMIN)
    await expect(latest.locator(".version")).to_have_text(seed)
    live = await asyncio.to_thread(shop.app[REGISTRY].live, ModelKind.ROUTER)
    assert live is not None and live.version == seed

    assert pages.problems == [REFUSED.format("401 (Unauthorized)", f"{shop.origin}/api/auth/me"),
                              REFUSED.format("409 (Conflict)", f"{shop.origin}/api/models/{shuffled}/deploy")]
    pages.problems.clear()  # provoked on purpose, and checked
