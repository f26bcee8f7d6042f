"""A conversation that follows up, end to end in real headless Chromium (issue 26): through the
widget a shopper searches, narrows by colour and price, asks the price of "the second one", asks
for "more like it" and then for a person; the member of staff who takes the conversation sees
how each follow-up was read and the products in focus, and an auditor sees the reading too."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from bot.auth.guard import Role
from bot.serving.engine import MEMORY
from bot.serving.knowledge import KNOWLEDGE
from bot.web.keys import USERS
from core.settings import Settings
from tests.bot.channels.test_socketio import app_with_socketio
from tests.web import test_review_browser as review
from tests.web.conftest import Pages
from tests.web.test_staff_browser import PASSWORD, STAFF, VIEWPORT, bot_bubbles, open_widget, sign_in
from tests.web.test_widget_browser import Shop, Wire, ask, products_in

pytestmark = pytest.mark.browser

SEARCH = "do you have mugs?"
NARROW = "any in pink under £5?"
SECOND = "how much is the second one?"
SIMILAR = "show me more like it"
PERSON = "I want to talk to a person"


@pytest.fixture
async def shop(aiohttp_server: Any, shop_settings: Settings) -> Shop:
    """The real application on a free port, with a staff account."""
    app, channel = app_with_socketio(shop_settings)
    server = await aiohttp_server(app)
    await asyncio.to_thread(app[USERS].add, STAFF, PASSWORD, Role.STAFF)
    await asyncio.to_thread(app[USERS].add, review.AUDITOR, review.PASSWORD, Role.AUDITOR)
    return Shop(str(server.make_url("")).rstrip("/"), app, channel)


@pytest.fixture
def origin(shop: Shop) -> str:
    """The server the pages talk to (tests/web/conftest.py closes them before it stops)."""
    return shop.origin


def pounds(price: float) -> str:
    return f"£{price:.2f}"


async def cards_shown(page: Page, wire: Wire, text: str) -> list[dict[str, Any]]:
    """Ask ``text``; the product cards of the answer, as the widget's newest answer shows them."""
    cards = products_in((await ask(page, wire, text)).messages)
    assert cards, f"no product cards for {text!r}"
    shown = bot_bubbles(page).last.locator(".sb-card")
    await expect(shown.locator(".sb-card-name")).to_have_text([c["name"] for c in cards])
    await expect(shown.locator(".sb-price")).to_have_text([pounds(c["price"]) for c in cards])
    return cards


async def test_a_followed_conversation_reaches_staff_with_its_products_in_focus(
    pages: Pages, shop: Shop
) -> None:
    shopper, wire = await open_widget(await pages.context(*VIEWPORT), shop.origin)

    # A search, then the same search narrowed by colour and price.
    mugs = await cards_shown(shopper, wire, SEARCH)
    assert all("mug" in c["name"].lower() for c in mugs), mugs
    pink = await cards_shown(shopper, wire, NARROW)
    assert len(pink) >= 2, pink
    assert all("pink" in c["name"].lower() and c["price"] <= 5 for c in pink), pink
    assert all("mug" in c["name"].lower() for c in pink), "only the same kind of thing"

    # "The second one" is the second card shown: its price is stated.
    second = pink[1]
    price = await ask(shopper, wire, SECOND)
    said = " ".join(m.get("text") or "" for m in price.messages)
    assert second["name"] in said and pounds(second["price"]) in said, price.messages
    latest = bot_bubbles(shopper).last.locator(".sb-bubble").first
    await expect(latest).to_contain_text(pounds(second["price"]))

    # "More like it": other products like that one, itself left out.
    like = await cards_shown(shopper, wire, SIMILAR)
    assert second["stock_code"] not in {c["stock_code"] for c in like}, like

    # A person is asked for; the conversation waits in the queue.
    session = (await ask(shopper, wire, PERSON)).sent["session_id"]
    await expect(bot_bubbles(shopper).last).to_contain_text("queue")

    # Staff take the conversation and see how each follow-up was read.
    console = await sign_in(await pages.context(*VIEWPORT), shop.origin, pages.problems)
    await console.locator(f'#queue li[data-conversation="{session}"]').click()
    await console.locator("#claim").click()
    await expect(console.locator("#chat-status")).to_have_text(f"assigned · {STAFF}")
    transcript = console.locator("#transcript")
    await expect(transcript.locator(".msg.shopper")).to_have_text([SEARCH, NARROW, SECOND, SIMILAR, PERSON])
    read_as = transcript.locator(".read-as")
    await expect(read_as).to_have_count(3)
    await expect(read_as.nth(0)).to_have_text(re.compile(r"^Read as: .*pink.*mugs.*£5"))
    await expect(read_as.nth(1)).to_contain_text(f"the {second['name']}")
    await expect(read_as.nth(2)).to_have_text(f"Read as: more like the {second['name']}")

    # ... and the products in focus: the product and the cards shown last, named and priced.
    slots = await shop.app[MEMORY].get(session)
    assert slots.shown_products == tuple(c["stock_code"] for c in like), "the cards shown last"
    assert slots.last_product in {second["stock_code"], *slots.shown_products}, "a product the shopper saw"
    in_focus = shop.app[KNOWLEDGE].product_by_code[slots.last_product]
    focus = console.locator("#focus")
    await expect(focus).to_be_visible()
    product = focus.locator("#focus-product .product")
    await expect(product).to_have_attribute("data-code", in_focus.stock_code)
    await expect(product.locator(".name")).to_have_text(in_focus.name)
    await expect(product.locator(".price")).to_have_text(pounds(in_focus.price))
    await expect(product.locator(".code")).to_have_text(in_focus.stock_code)
    shown = focus.locator("#focus-shown li .product")
    await expect(shown.locator(".name")).to_have_text([c["name"] for c in like])
    await expect(shown.locator(".price")).to_have_text([pounds(c["price"]) for c in like])
    await expect(shown.locator(".code")).to_have_text([c["stock_code"] for c in like])
    await console.screenshot(path="/tmp/scratch/staff.png")  # SCRATCH

    # An auditor finds the turn marked as read in context and sees the reading, its kind and
    # the product it referred to, named.
    auditor = await review.sign_in(await pages.context(), shop.origin, pages.problems)
    asked = auditor.locator(f'#queue li[data-turn="{price.turn_id}"]')
    await expect(asked.locator(".chip.in-context")).to_have_text("in context")
    await expect(auditor.locator("#queue li[data-turn] .chip.in-context")).to_have_count(3)
    await asked.get_by_role("button").click()
    await expect(auditor.locator("#turn-title")).to_have_text(SECOND)
    reading = auditor.locator("#turn-reading")
    await expect(reading.locator(".resolved")).to_have_text(re.compile(
        rf"^Read in context: how much is the {re.escape(second['name'])}\?\s*ordinal$"))
    await expect(reading.locator(".chip.act")).to_have_text("ordinal")
    referred = reading.locator(f'.refers li[data-code="{second["stock_code"]}"]')
    await expect(referred.locator(".name")).to_have_text(second["name"])
    await expect(referred.locator(".code")).to_have_text(second["stock_code"])
    await expect(auditor.locator("#turn-withheld")).to_be_hidden()
    await expect(auditor.locator("#turn-context .exchange.current .read-as")).to_have_text(
        re.compile(rf"^read as: how much is the {re.escape(second['name'])}"))
    await auditor.screenshot(path="/tmp/scratch/review.png")  # SCRATCH
