"""The auditors' review console end to end in real headless Chromium, on the real server.

Real traffic goes through the REST channel; an auditor finds the generated answer, marks it
incorrect with a correction and promotes it; a shopper's widget then gets the correction; undo
withdraws it; the dashboard charts the traffic.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from playwright.async_api import BrowserContext, Page, expect

from bot.auth.guard import Role
from bot.review.api import REVIEW_STORE
from bot.serving.knowledge import KNOWLEDGE
from bot.serving.turnlog import SINK
from bot.web.keys import USERS
from core.settings import REPO_ROOT, Settings
from core.turns import Flag, Route, TurnRecord
from harness.polling import until
from tests.bot.channels.test_socketio import app_with_socketio
from tests.web.conftest import Pages
from tests.web.test_widget_browser import Shop, Wire, ask

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
AUDITOR, PASSWORD = "ada", "a long enough password"
QUESTION = "is the glass cookie jar good for storing biscuits?"
CORRECTION = "Our glass cookie jars are airtight, so biscuits stay crisp for weeks."
EMAIL = "jo.bloggs@example.com"
MARKUP = '<img src="x" onerror="window.__pwned = 1">'
# One conversation each: (sender, message, thumbs).
TRAFFIC = [
    ("audit-delivery", "how long does delivery take?", "up"),
    ("audit-wrapping", "do you do gift wrapping?", "down"),
    ("audit-weather", "what's the weather in Paris", None),
    ("audit-product", QUESTION, None),
    ("audit-person", "I want to talk to a person", None),
    ("audit-email", f"please send my receipt to {EMAIL}", None),
    ("audit-markup", MARKUP, None),
]
# Flags that say something went wrong; pii_redacted only says the log is safe.
QUIET = {Flag.PII_REDACTED}
PHRASING_OF = "gift_wrap"  # a FAQ entry of the demo shop
LIVE_S = 5.0  # a promote or undo reaches the live bot within seconds


@pytest.fixture
async def shop(aiohttp_server: Any, shop_settings: Settings) -> Shop:
    """The real application on a free port, with an auditor account."""
    app, channel = app_with_socketio(shop_settings)
    server = await aiohttp_server(app)
    await asyncio.to_thread(app[USERS].add, AUDITOR, PASSWORD, Role.AUDITOR)
    return Shop(str(server.make_url("")).rstrip("/"), app, channel)


@pytest.fixture
def origin(shop: Shop) -> str:
    """The server the pages talk to (tests/web/conftest.py closes them before it stops)."""
    return shop.origin


async def send_traffic(origin: str) -> dict[str, str]:
    """Each message of ``TRAFFIC`` through the REST channel, thumbs given; sender → turn id."""
    turn_ids: dict[str, str] = {}
    async with aiohttp.ClientSession() as http:
        for sender, text, thumbs in TRAFFIC:
            message = {"sender": sender, "message": text}
            async with http.post(f"{origin}/webhooks/rest/webhook", json=message) as r:
                assert r.status == 200, await r.text()
                turn_ids[sender] = r.headers["X-Shopbot-Turn-Id"]
            if thumbs:
                body = {"conversation_id": sender, "turn_id": turn_ids[sender], "value": thumbs}
                async with http.post(f"{origin}/feedback", json=body) as r:
                    assert r.status == 200, await r.text()
    return turn_ids


async def logged(shop: Shop) -> list[TurnRecord]:
    sink = shop.app[SINK]
    await sink.flush()
    return await sink.run_sync(lambda: list(sink.turn_log.records()))


async def sign_in(context: BrowserContext, origin: str, problems: list[str]) -> Page:
    page = await context.new_page()
    await page.goto(origin + "/review")
    login = page.locator("#login")
    await expect(login).to_be_visible()
    await expect(page.locator("#console")).to_be_hidden()
    # Chromium logs the console's "who am I?" 401 itself.
    refused = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    assert problems == [f"{refused} at {origin}/api/auth/me"]
    problems.clear()
    await login.locator("input[name=username]").fill(AUDITOR)
    await login.locator("input[name=password]").fill(PASSWORD)
    await login.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#console")).to_be_visible()
    await expect(page.locator("#who")).to_have_text(f"{AUDITOR} ({Role.AUDITOR})")
    return page


async def queue_ids(page: Page) -> list[str]:
    return await page.locator("#queue li[data-turn]").evaluate_all("els => els.map(e => e.dataset.turn)")


async def answer_until(page: Page, wire: Wire, wanted: Callable[[list[str]], bool], what: str) -> list[str]:
    """Ask ``QUESTION`` until ``wanted(texts)`` holds (within ``LIVE_S``); the last answer's texts."""
    answers: list[list[str]] = []

    async def asked() -> bool:
        turn = await ask(page, wire, QUESTION)
        answers.append([m["text"] for m in turn.messages if m.get("text")])
        return wanted(answers[-1])

    await until(asked, timeout_s=LIVE_S, interval_s=0.5, what=what, show=lambda: f"answers: {answers}")
    return answers[-1]


async def test_auditor_reviews_promotes_and_undoes_a_generated_answer(pages: Pages, shop: Shop) -> None:
    turn_ids = await send_traffic(shop.origin)
    records = await logged(shop)
    by_id = {r.turn_id: r for r in records}
    product = by_id[turn_ids["audit-product"]]
    assert product.route == Route.GENERATE and Flag.GENERATED in product.flags, (product.route, product.flags)
    assert by_id[turn_ids["audit-person"]].route == Route.HANDOFF
    assert by_id[turn_ids["audit-weather"]].route == Route.DECLINE
    assert EMAIL not in by_id[turn_ids["audit-email"]].user_text

    auditor_context, shopper_context = await pages.context(1440, 900), await pages.context(1440, 900)
    page = await sign_in(auditor_context, shop.origin, pages.problems)

    # The default queue: every unreviewed turn, the flagged ones first; text stays text.
    queue = page.locator("#queue li[data-turn]")
    await expect(queue).to_have_count(len(records))
    flagged = {r.turn_id for r in records if r.flags - QUIET}
    shown = await queue_ids(page)
    assert set(shown[: len(flagged)]) == flagged and set(shown) == set(by_id)
    await expect(page.locator("#queue li.flagged")).to_have_count(len(flagged))
    await expect(page.locator("#queue .text")).to_contain_text([MARKUP])
    assert await page.locator("#queue img").count() == 0
    assert await page.evaluate("window.__pwned") is None
    assert EMAIL not in await page.content()  # the API redacts; the console shows what it gets

    # Only the generated turns, then the product question beside its evidence.
    await page.locator("#filters select[name=flag]").select_option("generated")
    await page.locator("#filters").get_by_role("button", name="Apply").click()
    generated = sorted(r.turn_id for r in records if Flag.GENERATED in r.flags)
    await expect(queue).to_have_count(len(generated))
    assert sorted(await queue_ids(page)) == generated
    await page.locator(f"#queue li[data-turn='{product.turn_id}'] button").click()
    await expect(page.locator("#turn-title")).to_have_text(QUESTION)
    await expect(page.locator("#turn-chips")).to_contain_text("generate")
    await expect(page.locator("#turn-chips .flag")).to_contain_text(sorted(str(f) for f in product.flags))
    await expect(page.locator("#turn-context .exchange.current .msg.shopper")).to_have_text(QUESTION)
    # Each bot message in its own bubble (a withheld draft is an "I'm not sure" and what was found).
    replies = [m["text"] for m in product.response if m.get("text")]
    await expect(page.locator("#turn-context .exchange.current .msg.bot")).to_contain_text(replies)
    stages = sorted(product.latency_ms)
    rows = page.locator("#turn-latency tr[data-stage]")
    assert sorted(await rows.evaluate_all("els => els.map(e => e.dataset.stage)")) == stages
    assert "generate" in stages and "total" in stages
    await expect(page.locator("#turn-routing")).to_contain_text(f"{product.metadata['confidence']:.2f}")
    await expect(page.locator("#hits tbody tr")).to_have_count(len(product.hits))
    first_hit = product.hits[0]
    await expect(page.locator("#hits tbody tr").first).to_contain_text(f"{first_hit.score:.3f}")
    passages = product.metadata.get("evidence") or []
    await expect(page.locator("#passages li")).to_have_count(len(passages))

    # Marked incorrect with a correction and a note: stored, shown in the history.
    await page.locator("#correction").fill(CORRECTION)
    await page.locator("#note").fill("The generated text invents details.")
    await page.locator(".verdicts").get_by_role("button", name="Incorrect").click()
    await expect(page.locator("#review-status")).to_have_text("Saved: incorrect.")
    await expect(page.locator("#reviews li")).to_have_count(1)
    await expect(page.locator("#reviews li")).to_contain_text(CORRECTION)
    reviews = await asyncio.to_thread(shop.app[REVIEW_STORE].reviews_of, product.turn_id)
    assert [(r.verdict, r.correction, r.reviewer) for r in reviews] == [("incorrect", CORRECTION, AUDITOR)]

    # Promoted as a new entry answering the correction.
    await expect(page.locator("#promote-answer")).to_have_value(CORRECTION)
    async with page.expect_response("**/promote") as promoted:
        await page.locator("#promote").click()
    response = await promoted.value
    assert response.status == 201
    change = await response.json()
    fields = ("kind", "question", "answer", "turn_id", "created_by", "active")
    assert [change[f] for f in fields] == ["new_entry", QUESTION, CORRECTION, product.turn_id, AUDITOR, True]
    mine = page.locator(f"#turn-changes li[data-change='{change['id']}']")
    await expect(mine).to_contain_text("active")

    # The shopper asking the same question gets exactly the correction, from that change.
    shopper = await shopper_context.new_page()
    wire = Wire(shopper)
    await shopper.goto(shop.origin + "/")
    await shopper.get_by_role("button", name=re.compile("^Open chat")).click()
    assert await answer_until(shopper, wire, lambda texts: texts == [CORRECTION],
                              "exactly the correction") == [CORRECTION]
    await expect(shopper.locator(".sb-msg--bot .sb-bubble").last).to_have_text(CORRECTION)
    answered = (await logged(shop))[-1]
    assert answered.user_text == QUESTION and answered.metadata["correction"]["id"] == change["id"]

    # Undo: the change is withdrawn and the bot no longer gives the correction.
    async with page.expect_response(f"**/api/knowledge/changes/{change['id']}/undo") as undone:
        await mine.get_by_role("button", name="Undo").click()
    assert (await undone.value).status == 200
    await expect(mine).to_contain_text(f"undone by {AUDITOR}")
    await expect(mine.get_by_role("button", name="Undo")).to_have_count(0)
    assert CORRECTION not in await answer_until(shopper, wire, lambda texts: CORRECTION not in texts,
                                               "an answer without the withdrawn correction")
    after = (await logged(shop))[-1]
    assert after.user_text == QUESTION and "correction" not in after.metadata

    # Promoted instead as one more phrasing of an existing entry, picked from the list.
    entry = shop.app[KNOWLEDGE].entries[PHRASING_OF]
    await page.locator("#entry-search").fill(PHRASING_OF)
    await expect(page.locator("#entry option")).to_have_count(1)
    await page.locator("#entry").select_option(PHRASING_OF)
    await expect(page.locator("#promote-form input[value=new_phrasing]")).to_be_checked()
    await expect(page.locator("#entry-answer")).to_contain_text(entry.answer or "")
    async with page.expect_response("**/promote") as promoted:
        await page.locator("#promote").click()
    phrasing = await (await promoted.value).json()
    assert [phrasing[f] for f in ("kind", "entry_id", "question")] == ["new_phrasing", PHRASING_OF, QUESTION]
    assert entry.answer in await answer_until(shopper, wire, lambda texts: entry.answer in texts,
                                              f"the answer of {PHRASING_OF}")

    # The changes view lists both; undo there withdraws the phrasing.
    await page.get_by_role("link", name="Knowledge changes").click()
    row = page.locator(f"#changes tr[data-change='{change['id']}']")
    await expect(row).to_contain_text(f"undone by {AUDITOR}")
    await expect(row).to_contain_text(CORRECTION)
    second = page.locator(f"#changes tr[data-change='{phrasing['id']}']")
    await expect(second).to_contain_text("active")
    await second.get_by_role("button", name="Undo").click()
    await expect(second).to_contain_text(f"undone by {AUDITOR}")
    assert entry.answer not in await answer_until(shopper, wire, lambda texts: entry.answer not in texts,
                                                  f"an answer other than {PHRASING_OF}'s")
    await page.get_by_role("link", name="Turns", exact=True).click()
    await page.locator("#filters select[name=reviewed]").select_option("true")
    await page.locator("#filters select[name=verdict]").select_option("incorrect")
    await page.locator("#filters").get_by_role("button", name="Apply").click()
    await expect(queue).to_have_count(1)
    await expect(queue.locator(".verdict")).to_have_text("incorrect")
    href = await page.locator("#export-csv").get_attribute("href")
    assert href is not None and "verdict=incorrect" in href and "flag=generated" in href
    exported = await page.request.get(shop.origin + href)
    assert exported.status == 200 and exported.headers["content-type"].startswith("text/csv")
    lines = (await exported.text()).strip().splitlines()
    assert len(lines) == 2 and product.turn_id in lines[1] and CORRECTION in lines[1]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "review-turn.png"))

    # The dashboard charts every logged turn, the feedback and the handoff.
    records = await logged(shop)
    await page.get_by_role("link", name="Dashboard").click()
    await expect(page.locator("[data-tile=turns] .value")).to_have_text(str(len(records)))
    await expect(page.locator("[data-tile=up] .value")).to_have_text("1")
    await expect(page.locator("[data-tile=down] .value")).to_have_text("1")
    for chart in ("latency", "routes", "flags", "handoff", "feedback"):
        marks = await page.locator(f"#chart-{chart}").get_attribute("data-marks")
        assert marks is not None and int(marks) > 0, chart
        assert await page.locator(f"#chart-{chart} svg .mark").count() == int(marks)
    routes = Counter(str(r.route) for r in records)
    await expect(page.locator("#chart-routes .legend li")).to_have_text(
        [f"{route} {routes[route]}" for route in map(str, Route) if route in routes])
    counts = await page.locator("#chart-routes table.data tbody td:not(:first-child)").all_text_contents()
    assert sum(int(c) for c in counts if c.isdigit()) == len(records)
    await page.screenshot(path=str(SCREENSHOTS / "review-dashboard.png"), full_page=True)
