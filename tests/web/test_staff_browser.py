"""The human handoff end to end in real headless Chromium: the shopper's widget and the staff
console in two browser contexts, both talking to the real server on a real port."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import BrowserContext, Page, expect

from bot.auth.guard import Role
from bot.engine import replies
from bot.web.keys import USERS
from core.settings import REPO_ROOT, Settings
from harness.polling import until
from tests.bot.channels.test_socketio import app_with_socketio
from tests.web.conftest import Pages
from tests.web.test_widget_browser import STAFF_LABEL, Shop, Wire, ask, expect_last_answer, settled

pytestmark = pytest.mark.browser

SCREENSHOT = REPO_ROOT / "docs" / "screenshots" / "staff-console.png"
STAFF, PASSWORD = "sam", "a long enough password"
DELIVERY = "how long does UK delivery take?"
# No name in it: the transcript shows what the turn log keeps, where names are redacted.
HELLO = "Hello, how can I help you today?"
CHECKING = "Let me check that order for you."
VIEWPORT = (1100, 760)
# True once the widget shows ``text`` in a visible staff bubble (its DOM is in a shadow root).
STAFF_BUBBLE_SHOWN = """(text) => {
  const root = document.getElementById("shopbot-widget").shadowRoot;
  return [...root.querySelectorAll(".sb-msg--staff .sb-bubble")]
    .some((b) => b.textContent === text && b.checkVisibility());
}"""


@pytest.fixture
async def shop(aiohttp_server: Any, shop_settings: Settings) -> Shop:
    """The real application on a free port, with a staff account."""
    app, channel = app_with_socketio(shop_settings)
    server = await aiohttp_server(app)
    await asyncio.to_thread(app[USERS].add, STAFF, PASSWORD, Role.STAFF)
    return Shop(str(server.make_url("")).rstrip("/"), app, channel)


@pytest.fixture
def origin(shop: Shop) -> str:
    """The server the pages talk to (tests/web/conftest.py closes them before it stops)."""
    return shop.origin


async def open_widget(context: BrowserContext, origin: str) -> tuple[Page, Wire]:
    """The shop's home page with the chat panel open, its socket.io frames watched."""
    page = await context.new_page()
    wire = Wire(page)
    await page.goto(origin + "/")
    await page.get_by_role("button", name=re.compile("^Open chat")).click()
    return page, wire


async def sign_in(context: BrowserContext, origin: str, problems: list[str]) -> Page:
    """The staff console, signed in through its own form."""
    page = await context.new_page()
    await page.goto(origin + "/staff")
    login = page.locator("#login")
    await expect(login).to_be_visible()
    await expect(page.locator("#console")).to_be_hidden()
    # The console asks who is signed in; nobody yet, and Chromium logs that 401 itself.
    refused = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    await until(lambda: problems, timeout_s=5, what="Chromium's report of the 401 from /api/auth/me")
    assert problems == [f"{refused} at {origin}/api/auth/me"]
    problems.clear()
    await login.locator("input[name=username]").fill(STAFF)
    await login.locator("input[name=password]").fill(PASSWORD)
    await login.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#console")).to_be_visible()
    await expect(login).to_be_hidden()
    await expect(page.locator("#who")).to_have_text(f"{STAFF} ({Role.STAFF})")
    return page


async def check_session_cookie(context: BrowserContext, page: Page) -> None:
    """The session lives in an HttpOnly, Secure, SameSite=Strict cookie scripts cannot read."""
    cookies = [c for c in await context.cookies() if c.get("name") == "shopbot_session"]
    assert len(cookies) == 1, cookies
    assert cookies[0].get("httpOnly") and cookies[0].get("secure"), cookies
    assert cookies[0].get("sameSite") == "Strict", cookies
    assert "shopbot_session" not in await page.evaluate("document.cookie")


def bot_bubbles(page: Page) -> Any:
    """The widget's bot (not staff) messages, without typing indicators or errors."""
    return page.locator(".sb-msg--bot:not(.sb-msg--staff):not(.sb-typing):not(.sb-error)")


def bot_said(wire: Wire) -> list[Any]:
    """The ``bot_uttered`` messages the widget got from the bot (not from staff)."""
    return [m for m in wire.events("bot_uttered") if m["metadata"].get("sender") != "staff"]


async def test_staff_take_over_a_conversation_and_hand_it_back(pages: Pages, shop: Shop) -> None:
    shopper_context, staff_context = await pages.context(*VIEWPORT), await pages.context(*VIEWPORT)
    shopper, wire = await open_widget(shopper_context, shop.origin)

    # The bot answers a policy question, then the shopper asks for a person and is queued.
    faq = await ask(shopper, wire, DELIVERY)
    answer = [m["text"] for m in faq.messages if m.get("text")]
    assert answer and "working days" in " ".join(answer), faq.messages
    handoff = await ask(shopper, wire, "I want to talk to a person")
    await expect(bot_bubbles(shopper).last).to_contain_text("queue")
    session = handoff.sent["session_id"]

    # Staff sign in and find the conversation waiting, with how long it has waited.
    console = await sign_in(staff_context, shop.origin, pages.problems)
    await check_session_cookie(staff_context, console)
    await expect(console.locator(".tabs button[data-status=pending]")).to_have_class(re.compile("active"))
    await expect(console.locator("#count-pending")).to_have_text("1")
    waiting = console.locator(f'#queue li[data-conversation="{session}"]')
    await expect(waiting).to_have_count(1)
    await expect(waiting.locator(".wait")).to_have_text(re.compile(r"^\d+s$"))
    await expect(waiting.locator(".chip").first).to_have_text("requested")
    await expect(waiting.locator(".last")).to_have_text("I want to talk to a person")

    # The transcript: what the shopper said and the bot's answer with the route it took.
    await waiting.click()
    await expect(waiting).to_have_class(re.compile("selected"))
    await expect(console.locator("#chat-title")).to_have_text(f"Conversation {session}")
    transcript = console.locator("#transcript")
    await expect(transcript.locator(".msg.shopper")).to_have_text([DELIVERY, "I want to talk to a person"])
    first_answer = transcript.locator(".msg.bot").first
    for text in answer:
        await expect(first_answer).to_contain_text(text)
    await expect(first_answer.locator(".chip.route")).to_have_text("faq")
    await expect(console.locator("#reply")).to_be_hidden()

    # Claiming tells the shopper a person has joined, in the widget, labelled as a person.
    await console.locator("#claim").click()
    await expect(console.locator("#chat-status")).to_have_text(f"assigned · {STAFF}")
    await expect(console.locator("#claim")).to_be_hidden()
    await expect(console.locator("#reply")).to_be_visible()
    await expect(console.locator("#count-pending")).to_have_text("0")
    await expect(console.locator("#count-assigned")).to_have_text("1")
    await expect(waiting).to_have_count(0)  # no longer waiting
    await console.locator(".tabs button[data-status=assigned]").click()
    assigned = console.locator(f'#queue li[data-conversation="{session}"]')
    await expect(assigned.locator(".chip")).to_have_text(["requested", STAFF])
    await expect(assigned).to_have_class(re.compile("selected"))
    joined = shopper.locator(".sb-msg--staff").last
    await expect(joined.locator(".sb-bubble")).to_have_text(
        f"{STAFF} from our customer service team has joined the chat."
    )
    await expect(joined.locator(".sb-sender")).to_have_text(STAFF_LABEL)
    await expect(transcript.locator(".msg.staff").last).to_contain_text("has joined the chat")

    # The shopper typing shows in the console, and goes once they pause.
    box = shopper.get_by_role("textbox", name="Your message")
    await box.fill("hello, I")
    await expect(console.locator("#typing")).to_have_text("Shopper is typing…")
    await expect(console.locator("#typing")).to_have_text("", timeout=5000)

    # A canned reply fills the reply box; typing there shows "typing" in the widget.
    canned = console.locator("#canned button").first
    await canned.click()
    await expect(console.locator("#text")).to_have_value(await canned.inner_text())
    await console.locator("#text").fill(HELLO)
    staff_typing = shopper.locator(".sb-typing--staff")
    await expect(staff_typing).to_contain_text(f"{STAFF_LABEL} is typing")

    # The staff reply is pushed to the open widget (its delay is measured by
    # bench/handoff_latency.py, not asserted here).
    bot_before = await bot_bubbles(shopper).count()
    await console.locator("#send").get_by_role("button", name="Send").click()
    await shopper.wait_for_function(STAFF_BUBBLE_SHOWN, arg=HELLO, polling=20, timeout=5000)
    reply = shopper.locator(".sb-msg--staff").last
    await expect(reply.locator(".sb-sender")).to_have_text(STAFF_LABEL)
    await expect(reply.locator(".sb-feedback")).to_have_count(0)
    await expect(staff_typing).to_have_count(0)
    await expect(console.locator("#text")).to_have_value("")
    staff_said = transcript.locator(".msg.staff").last
    await expect(staff_said).to_contain_text(HELLO)
    await expect(staff_said.locator(".meta")).to_have_text(STAFF)

    # While a person has the conversation the bot stays silent; the console shows the message live.
    said_before = len(bot_said(wire))
    silent = await ask(shopper, wire, "where is my order?")
    assert silent.ack["count"] == 0 and silent.messages == [], silent
    await expect(transcript.locator(".msg.shopper").last).to_have_text("where is my order?", timeout=5000)
    await expect(assigned.locator(".last")).to_have_text("where is my order?")
    # Staff answer it: anything the bot had pushed for that message reaches the widget before this.
    await console.locator("#text").fill(CHECKING)
    await console.locator("#send").get_by_role("button", name="Send").click()
    await shopper.wait_for_function(STAFF_BUBBLE_SHOWN, arg=CHECKING, polling=20, timeout=5000)
    assert len(bot_said(wire)) == said_before
    assert await bot_bubbles(shopper).count() == bot_before
    await expect(shopper.locator(".sb-msg--user .sb-bubble").last).to_have_text("where is my order?")

    # A long transcript scrolls inside the console; the reply box stays in view.
    await expect(console.locator("#send").get_by_role("button", name="Send")).to_be_in_viewport(ratio=1)
    assert await console.evaluate("document.scrollingElement.scrollHeight <= innerHeight")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    await console.screenshot(path=str(SCREENSHOT))

    # Resolving hands the conversation back to the bot, which answers again.
    await console.locator("#resolve").click()
    await expect(console.locator("#chat-status")).to_have_text(re.compile("^resolved"))
    await expect(console.locator("#resolve")).to_be_hidden()
    await expect(console.locator("#reply")).to_be_hidden()
    await expect(console.locator("#count-assigned")).to_have_text("0")
    await expect(bot_bubbles(shopper).last).to_contain_text("You're back with the shop assistant")
    await console.locator(".tabs button[data-status=resolved]").click()
    await expect(console.locator(f'#queue li[data-conversation="{session}"]')).to_have_count(1)

    again = await ask(shopper, wire, DELIVERY)
    assert [m["text"] for m in again.messages if m.get("text")] == answer
    await settled(shopper)
    await expect(bot_bubbles(shopper).last.locator(".sb-bubble")).to_have_text(answer)
    await expect(transcript.locator(".msg.bot").last).to_contain_text("You're back with the shop assistant")


async def test_staff_see_the_language_of_a_german_conversation(pages: Pages, shop: Shop) -> None:
    shopper_context, staff_context = await pages.context(*VIEWPORT), await pages.context(*VIEWPORT)
    shopper, wire = await open_widget(shopper_context, shop.origin)

    # The shopper writes German and reads German back, with a person offered by a button.
    german = await ask(shopper, wire, "Liefern Sie nach Deutschland?")
    reply = replies.other_language("de")
    assert [m.get("text") for m in german.messages] == [reply.text], german.messages
    await expect_last_answer(shopper, german.messages)
    person = bot_bubbles(shopper).last.get_by_role("button", name=reply.buttons[0].title, exact=True)
    before = len(wire.sent)
    await person.click()
    await wire.turn("/handoff", before)
    await settled(shopper)
    await expect(bot_bubbles(shopper).last).to_contain_text("queue")
    session = german.sent["session_id"]

    # Staff see the language on the queue entry, in the conversation's header and on the turn.
    console = await sign_in(staff_context, shop.origin, pages.problems)
    waiting = console.locator(f'#queue li[data-conversation="{session}"]')
    await expect(waiting.locator(".chip")).to_have_text(["requested", "German"])
    await waiting.click()
    await expect(console.locator("#chat-title")).to_have_text(f"Conversation {session}")
    await expect(console.locator("#chat-language")).to_have_text("German")
    await expect(console.locator("#chat-language")).to_be_visible()
    transcript = console.locator("#transcript")
    await expect(transcript.locator(".msg.shopper").first).to_have_text("Liefern Sie nach Deutschland?")
    await expect(transcript.locator(".msg.bot").first.locator(".chip.language")).to_have_text("German")
    await expect(transcript.locator(".msg.bot").last.locator(".chip.language")).to_have_count(0)

    # An English conversation shows none.
    english, english_wire = await open_widget(await pages.context(*VIEWPORT), shop.origin)
    await ask(english, english_wire, "I want to talk to a person")
    other = console.locator(f'#queue li[data-conversation]:not([data-conversation="{session}"])')
    await expect(console.locator("#queue li[data-conversation]")).to_have_count(2)
    await expect(other.locator(".chip.language")).to_have_count(0)
    await other.click()
    await expect(console.locator("#chat-language")).to_be_hidden()
