"""The embeddable chat widget in real headless Chromium, talking to the real server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, Response, async_playwright, expect

from bot.settings import REPO_ROOT, Settings
from retrieval.shopdata import load_orders

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO_ROOT / "docs" / "screenshots" / "widget.png"
ANSWER_MS = 30_000  # a CPU-only generator on a busy two-core machine can take a while
WEBHOOK = "**/webhooks/rest/webhook"

# Records what the widget adds to its log, in order, and whether the typing indicator was
# actually rendered when it appeared: a fast answer must not make this check flaky.
WATCH_LOG = """() => {
  const log = document.getElementById("shopbot-widget").shadowRoot.querySelector(".sb-log");
  window.__added = [];
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (!node.classList) continue;
        if (node.classList.contains("sb-typing")) {
          window.__added.push(node.checkVisibility() ? "typing" : "typing-hidden");
        } else {
          window.__added.push(node.classList.contains("sb-msg--user") ? "user" : "bot");
        }
      }
    }
  }).observe(log, { childList: true });
}"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (never Playwright's downloaded build)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def shop_origin(aiohttp_server: Any, shop_settings: Settings) -> str:
    """The real application on a free port; returns its origin."""
    from bot.server import create_app

    server = await aiohttp_server(create_app(shop_settings))
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def page_problems() -> list[str]:
    """Script and console errors seen by ``page``; must be empty when the test ends."""
    return []


@pytest.fixture
async def page(browser: Browser, page_problems: list[str]) -> AsyncIterator[Page]:
    """A fresh page that fails the test on any script error or console error."""
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()
    page.on("pageerror", lambda err: page_problems.append(f"page error: {err}"))
    page.on(
        "console",
        lambda msg: page_problems.append(msg.text) if msg.type == "error" else None,
    )
    yield page
    await context.close()
    assert page_problems == []


def panel(page: Page) -> Any:
    return page.get_by_role("dialog")


async def ask(page: Page, text: str) -> tuple[list[dict[str, Any]], Response]:
    """Type a question, press Enter; return the server's answer once the widget shows it."""
    async with page.expect_response(WEBHOOK, timeout=ANSWER_MS) as info:
        box = page.get_by_role("textbox", name="Your message")
        await box.fill(text)
        await box.press("Enter")
    response = await info.value
    return await settled(page, response)


async def settled(page: Page, response: Response) -> tuple[list[dict[str, Any]], Response]:
    """Wait until the widget has rendered ``response``; return its JSON body and itself."""
    assert response.status == 200, await response.text()
    assert response.headers.get("x-shopbot-turn-id")
    await expect(page.locator(".sb-typing")).to_have_count(0, timeout=ANSWER_MS)
    await expect(page.locator(".sb-send")).to_be_enabled()
    body = await response.json()
    assert isinstance(body, list) and body, body
    return body, response


async def expect_last_answer(page: Page, body: list[dict[str, Any]]) -> None:
    """The newest bot bubble group shows exactly the texts of ``body``, as plain text."""
    last = page.locator(".sb-msg--bot:not(.sb-typing):not(.sb-error)").last
    texts = [m["text"] for m in body if m.get("text")]
    await expect(last.locator(".sb-bubble")).to_have_text(texts)


def sent(response: Response) -> dict[str, Any]:
    """The JSON body the widget posted for ``response``."""
    body = response.request.post_data_json
    assert isinstance(body, dict), body
    return body


def products_in(body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        product
        for message in body
        if (message.get("custom") or {}).get("type") == "products"
        for product in message["custom"]["products"]
    ]


async def test_shopper_conversation_end_to_end(page: Page, shop_origin: str) -> None:
    await page.goto(shop_origin + "/")
    await expect(page.get_by_text("doi:10.24432/C5BW33")).to_be_visible()
    launcher = page.get_by_role("button", name=re.compile("^Open chat"))
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await launcher.click()
    await expect(panel(page)).to_be_visible()
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    await expect(page.get_by_role("textbox", name="Your message")).to_be_focused()
    await page.evaluate(WATCH_LOG)

    # A policy question: typing indicator first, then the server's answer as text.
    delivery, delivery_response = await ask(page, "how long does delivery take?")
    assert await page.evaluate("window.__added") == ["user", "typing", "bot"]
    await expect_last_answer(page, delivery)
    sender = sent(delivery_response)["sender"]
    assert sender.startswith("web-")

    # A product question: one card per product, each with its price in pounds.
    cookies, _ = await ask(page, "do you sell cookie jars?")
    products = products_in(cookies)
    assert products, f"no product cards in the answer: {cookies}"
    await expect(page.locator(".sb-card")).to_have_count(len(products))
    prices = [f"£{float(p['price']):.2f}" for p in products]
    await expect(page.locator(".sb-card .sb-price")).to_have_text(prices)
    assert all(re.fullmatch(r"£\d+\.\d\d", price) for price in prices)

    # Thumbs down on the first answer reaches the server with that answer's turn id.
    first_down = page.locator(".sb-msg--bot .sb-feedback").first.get_by_role("button", name="Not helpful")
    async with page.expect_response("**/feedback") as feedback_info:
        await first_down.click()
    feedback = await feedback_info.value
    assert feedback.status == 200
    assert await feedback.json() == {"ok": True}
    assert sent(feedback) == {
        "conversation_id": sender,
        "turn_id": delivery_response.headers["x-shopbot-turn-id"],
        "value": "down",
    }
    await expect(first_down).to_have_attribute("aria-pressed", "true")
    # The picture for the docs: the chosen thumb, then the product question and its cards.
    await first_down.evaluate("n => n.scrollIntoView({block: 'start'})")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOT))

    # A reload keeps the open panel, the history, the cards and the chosen thumb.
    await page.reload()
    await expect(panel(page)).to_be_visible()
    await expect(page.locator(".sb-msg--user .sb-bubble")).to_have_text(
        ["how long does delivery take?", "do you sell cookie jars?"]
    )
    await expect(page.locator(".sb-card .sb-price")).to_have_text(prices)
    await expect(first_down).to_have_attribute("aria-pressed", "true")

    # "Talk to a person" sends the handoff intent in the same conversation.
    handoff_button = page.locator(".sb-footer").get_by_role("button", name="Talk to a person")
    async with page.expect_response(WEBHOOK, timeout=ANSWER_MS) as handoff_info:
        await handoff_button.click()
    handoff, handoff_response = await settled(page, await handoff_info.value)
    assert sent(handoff_response)["message"] == "/handoff"
    assert sent(handoff_response)["sender"] == sender
    await expect(page.locator(".sb-msg--user .sb-bubble").last).to_have_text("Talk to a person")
    await expect_last_answer(page, handoff)
    assert any(m.get("text") for m in handoff), handoff

    # Escape closes the panel and hands focus back to the launcher.
    await page.keyboard.press("Escape")
    await expect(panel(page)).to_be_hidden()
    await expect(launcher).to_be_focused()


async def test_markup_in_messages_stays_text(page: Page, shop_origin: str) -> None:
    await page.goto(shop_origin + "/")
    await page.get_by_role("button", name=re.compile("^Open chat")).click()
    attack = '<img src="x" onerror="window.__pwned = 1"><b>bold</b>'
    await ask(page, attack)
    await expect(page.locator(".sb-msg--user .sb-bubble")).to_have_text(attack)
    assert await page.locator(".sb-log img, .sb-log b").count() == 0
    assert await page.evaluate("window.__pwned") is None


async def test_network_failure_shows_error_and_retry_recovers(
    page: Page, page_problems: list[str], shop_origin: str
) -> None:
    await page.goto(shop_origin + "/")
    await page.get_by_role("button", name=re.compile("^Open chat")).click()
    # The shop going away is simulated at the network, the one boundary the widget cannot own.
    await page.route(WEBHOOK, lambda route: route.abort("connectionrefused"))
    box = page.get_by_role("textbox", name="Your message")
    await box.fill("how long does delivery take?")
    await box.press("Enter")
    error = page.get_by_role("alert")
    await expect(error).to_contain_text("can't reach the shop")
    await expect(page.locator(".sb-send")).to_be_enabled()
    assert [p for p in page_problems if "ERR_CONNECTION_REFUSED" not in p] == []
    page_problems.clear()  # the browser logs the refused fetch itself

    await page.unroute(WEBHOOK)
    async with page.expect_response(WEBHOOK, timeout=ANSWER_MS) as info:
        await error.get_by_role("button", name="Try again").click()
    body, _ = await settled(page, await info.value)
    await expect(page.get_by_role("alert")).to_have_count(0)
    await expect_last_answer(page, body)
    await expect(page.locator(".sb-msg--user")).to_have_count(1)  # the retry is not a new message


async def test_one_tag_embeds_the_widget_on_another_site(
    browser: Browser, aiohttp_server: Any, shop_origin: str
) -> None:
    snippet = (
        f'<script src="{shop_origin}/widget.js" defer '
        'data-title="Partner Shop" data-customer-id="12346"></script>'
    )
    html = f"<!doctype html><link rel='icon' href='data:,'><title>Partner</title>{snippet}"

    async def home(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    site = web.Application()
    site.router.add_get("/", home)
    other = await aiohttp_server(site)
    page = await browser.new_page()
    await page.goto(str(other.make_url("/")))

    launcher = page.get_by_role("button", name="Open chat: Partner Shop")
    await expect(launcher).to_have_css("background-color", "rgb(140, 47, 57)")  # widget.css loaded
    await launcher.click()
    await expect(page.get_by_role("heading", name="Partner Shop")).to_be_visible()
    body, response = await ask(page, "how long does delivery take?")
    assert response.url.startswith(shop_origin)
    assert sent(response)["metadata"] == {"customer_id": "12346"}
    await expect_last_answer(page, body)

    # The turn id header must be readable cross-origin (CORS expose) for feedback to work.
    async with page.expect_response("**/feedback") as feedback_info:
        await page.get_by_role("button", name="Helpful", exact=True).click()
    assert (await feedback_info.value).status == 200
    await page.close()


async def test_every_demo_route_renders_in_the_widget(
    page: Page, shop_origin: str, shop_settings: Settings
) -> None:
    await page.goto(shop_origin + "/")
    await page.get_by_role("button", name=re.compile("^Open chat")).click()
    order = next(o for o in load_orders(shop_settings.shop_dir).values() if o.status == "delivered")

    recommended, _ = await ask(page, "recommend something")
    cards = products_in(recommended)
    assert cards
    await expect(page.locator(".sb-msg--bot").last.locator(".sb-card")).to_have_count(len(cards))

    status, _ = await ask(page, f"where is my order {order.order_id}")
    await expect_last_answer(page, status)
    assert order.order_id in status[0]["text"]

    generated, _ = await ask(page, "is the glass cookie jar good for storing biscuits?")
    await expect_last_answer(page, generated)

    declined, _ = await ask(page, "what's the weather in Paris")
    await expect_last_answer(page, declined)
    buttons = [b["title"] for b in declined[0]["buttons"]]
    last = page.locator(".sb-msg--bot").last
    for title in buttons:
        await expect(last.get_by_role("button", name=title, exact=True)).to_be_visible()
