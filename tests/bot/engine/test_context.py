"""Reading a follow-up in its conversation, on the real demo catalogue and FAQ (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.context import (
    CHILD_CATEGORIES,
    ContextReader,
    about,
    clear_alone,
    search_of,
    switches_entry,
    things,
)
from bot.engine.interfaces import Search, Slots
from bot.engine.nlu import extract
from core.settings import Settings
from core.shop import Product, load_products
from core.turns import RouterOutput
from retrieval.knowledge import load_knowledge


@pytest.fixture(scope="module")
def catalogue(built_var: Path) -> dict[str, Product]:
    return {p.stock_code: p for p in load_products(Settings(var_dir=built_var).shop_dir)}


@pytest.fixture(scope="module")
def reader(catalogue: dict[str, Product]) -> ContextReader:
    entries = {e.id: e for e in load_knowledge(Settings().faq_path)}
    return ContextReader(catalogue, entries)


def named(catalogue: dict[str, Product], *words: str) -> list[str]:
    """Stock codes of products whose names hold every word, in catalogue order."""
    return [c for c, p in catalogue.items() if all(w in p.name.lower() for w in words)]


def after_search(codes: list[str], words: str, **search: object) -> Slots:
    return Slots(turns=1, shown_products=tuple(codes[:6]), last_product=codes[0], topic="products",
                 search=Search(words, seen=tuple(codes[:6]), **search))  # type: ignore[arg-type]


def read(reader: ContextReader, text: str, slots: Slots):  # type: ignore[no-untyped-def]
    return reader.read(text, slots, extract(text))


def test_a_first_message_stands_alone(reader: ContextReader) -> None:
    reading = read(reader, "how much is the first one?", Slots())
    assert reading.act is None and reading.resolved is None and reading.text == "how much is the first one?"


def test_ordinals_pick_from_the_cards_shown(reader: ContextReader, catalogue: dict[str, Product]) -> None:
    codes = named(catalogue, "doormat")
    slots = after_search(codes, "doormats")
    first = read(reader, "how much is the first one?", slots)
    assert first.act == "ordinal" and first.refers_to == (codes[0],) and first.aspect == "price"
    assert catalogue[codes[0]].name in (first.resolved or "")
    assert read(reader, "what about the 2nd", slots).refers_to == (codes[1],)
    assert read(reader, "the last one please", slots).refers_to == (codes[5],)
    assert read(reader, "number 3", slots).refers_to == (codes[2],)


def test_an_ordinal_past_the_cards_shown_names_no_card(reader: ContextReader,
                                                      catalogue: dict[str, Product]) -> None:
    codes = named(catalogue, "doormat")
    one = after_search(codes[:1], "doormats")
    past = read(reader, "how much is the second one?", one)
    assert (past.act, past.refers_to, past.aspect) == ("past", (codes[0],), None)
    six = after_search(codes, "doormats")
    for text in ("what about the seventh one?", "tell me about number 9", "is the 10th one in stock?"):
        reading = read(reader, text, six)
        assert (reading.act, reading.refers_to) == ("past", tuple(codes[:6])), text
    assert read(reader, "and the 6th?", six).refers_to == (codes[5],)  # the last one shown is not past


def test_a_question_about_a_card_no_fact_word_names_is_left_to_the_router(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    codes = named(catalogue, "doormat")
    slots = after_search(codes, "doormats")
    asked = read(reader, "the third one, is it dishwasher safe?", slots)
    assert (asked.act, asked.refers_to, asked.aspect, asked.text) == (
        "ordinal", (codes[2],), None, "the third one, is it dishwasher safe?")
    assert asked.resolved == f"the {catalogue[codes[2]].name}, is it dishwasher safe?"
    assert read(reader, "does the second one need batteries?", slots).aspect is None
    # A remark is no question, and a fact word still names the fact.
    assert read(reader, "the third one looks nice", slots).aspect == "overview"
    assert read(reader, "is the first one popular?", slots).aspect == "popularity"
    # "I'll take 2 of the first one": its price (and the total).
    assert read(reader, "I'll take 2 of the first one", slots).aspect == "price"


def test_a_second_of_time_is_no_ordinal(reader: ContextReader, catalogue: dict[str, Product]) -> None:
    slots = after_search(named(catalogue, "doormat"), "doormats")
    for text in ("give me a second", "one second please", "wait a second"):
        assert read(reader, text, slots).act not in ("ordinal", "past"), text


def test_an_ordinal_with_the_fact_left_out_asks_the_fact_before(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    codes = named(catalogue, "doormat")
    after_price = Slots(turns=2, shown_products=tuple(codes[:6]), last_product=codes[1], topic="product",
                        aspect="price")
    first = read(reader, "and the first one?", after_price)
    assert (first.act, first.refers_to, first.aspect) == ("ordinal", (codes[0],), "price")
    # Its own question or words of its own: not the fact before.
    assert read(reader, "what is the first one made of?", after_price).aspect == "material"
    assert read(reader, "tell me about the first one", after_price).aspect == "overview"
    # After a search, nothing was asked of a card: the overview.
    assert read(reader, "and the first one?", after_search(codes, "doormats")).aspect == "overview"


def test_an_ordinal_with_a_kind_counts_only_that_kind(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    clocks, mugs = named(catalogue, "clock"), named(catalogue, "mug")
    shown = [mugs[0], clocks[0], mugs[1], clocks[1]]
    slots = Slots(turns=1, shown_products=tuple(shown), last_product=shown[0], topic="products")
    assert read(reader, "how much is that first clock?", slots).refers_to == (clocks[0],)
    assert read(reader, "and the second clock?", slots).refers_to == (clocks[1],)


def test_refinements_narrow_the_last_search(reader: ContextReader, catalogue: dict[str, Product]) -> None:
    slots = after_search(named(catalogue, "lunch bag"), "lunch bags")
    pink = read(reader, "do you have one in pink?", slots)
    assert pink.act == "refine" and pink.search is not None
    assert (pink.search.words, pink.search.colour) == ("lunch bags", "pink")
    cheaper = read(reader, "anything cheaper, under £5?", slots)
    assert cheaper.search is not None and cheaper.search.max_price == 5.0
    vintage = read(reader, "not the vintage ones", slots)
    assert vintage.search is not None and vintage.search.without == ("vintage",)
    personal = read(reader, "what about personalised ones?", slots)
    assert personal.search is not None and "personalised" in personal.search.words
    bigger = read(reader, "bigger", slots)
    assert bigger.search is not None and bigger.search.size == "large"


def test_cheaper_alone_means_cheaper_than_what_was_shown(reader: ContextReader,
                                                         catalogue: dict[str, Product]) -> None:
    codes = named(catalogue, "cake stand")
    reading = read(reader, "anything cheaper?", after_search(codes, "cake stands"))
    assert reading.search is not None
    assert reading.search.max_price == round(min(catalogue[c].price for c in codes[:6]) - 0.01, 2)


def test_a_new_search_is_not_a_refinement(reader: ContextReader, catalogue: dict[str, Product]) -> None:
    slots = after_search(named(catalogue, "lunch bag"), "lunch bags")
    for text in ("do you have red doormats?", "show me candles", "how long does delivery take?"):
        assert read(reader, text, slots).act is None, text


def test_more_similar_compare_and_correction(reader: ContextReader, catalogue: dict[str, Product]) -> None:
    codes = named(catalogue, "candle")
    slots = after_search(codes, "candles")
    more = read(reader, "show me more", slots)
    assert more.act == "more" and more.search == slots.search
    similar = read(reader, "more like the third one", slots)
    assert similar.act == "similar" and similar.refers_to == (codes[2],)
    cheapest = read(reader, "which is cheaper?", slots)
    assert cheapest.act == "compare" and cheapest.refers_to == tuple(codes[:6])
    two = read(reader, "what's the difference between the first two?", slots)
    assert two.act == "compare" and two.refers_to == tuple(codes[:2])
    clocks = named(catalogue, "clock")
    white = next(c for c in clocks if "white" in catalogue[c].name.lower())
    blue = next(c for c in clocks if "blue" in catalogue[c].name.lower())
    asked = Slots(turns=2, shown_products=(white, blue), last_product=white, topic="product", aspect="price")
    corrected = read(reader, "no, I meant blue", asked)
    assert corrected.act == "correct" and corrected.refers_to == (blue,) and corrected.aspect == "price"


def test_a_pronoun_asks_about_the_product_in_focus(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    stand = named(catalogue, "regency cakestand 3 tier")[0]
    slots = Slots(turns=1, shown_products=(stand,), last_product=stand, topic="product")
    reading = read(reader, "how much does it cost?", slots)
    assert reading.act == "pronoun" and reading.refers_to == (stand,) and reading.aspect == "price"


def test_an_faq_follow_up_is_read_with_the_question_before(reader: ContextReader) -> None:
    slots = Slots(turns=1, topic="faq", faq_topic="international_shipping")
    for text in ("how long does it take?", "and to the USA?", "what payment methods do you accept?"):
        reading = read(reader, text, slots)
        # Proposed with the question before it; the router keeps it only if the message is unclear
        # alone (the pipeline: clear_alone, tested through the app in test_conversations.py).
        assert reading.act == "faq" and reading.text.endswith(f"? {text}") and "ship" in reading.text


def test_a_message_the_router_reads_surely_alone_stands_alone() -> None:
    assert clear_alone(RouterOutput("payment_methods", "payment_methods", 1.0, (("payment_methods", 0.98),)))
    assert not clear_alone(RouterOutput("order_confirmation", "order_confirmation", 0.9,
                                        (("order_confirmation", 0.40), ("trade_account", 0.2))))
    assert not clear_alone(RouterOutput(None, "warranty", 0.2, ()))
    # Surely off-topic alone ("what's the weather in Paris" after the returns answer) stands alone too.
    assert clear_alone(RouterOutput(None, "returns", 0.01, (("returns", 0.002),), off_topic=0.99))
    assert not clear_alone(RouterOutput(None, "trade_catalogue", 0.3, (("trade_catalogue", 0.2),),
                                        off_topic=0.5))
    # "what about the usa?" after the delivery answer is off-topic alone, and asks it of another place.
    usa = RouterOutput(None, "international_shipping", 0.35, (("international_shipping", 0.01),),
                       off_topic=0.95)
    assert clear_alone(usa) and not clear_alone(usa, "ok, what about the usa?")


def test_what_about_another_faq_entry_switches_to_it() -> None:
    faq = {"international_shipping", "returns", "return_costs", "pay_later",
           "christmas_deadlines"}.__contains__
    returns = RouterOutput("return_costs", "return_costs", 1.0, (("return_costs", 0.8), ("returns", 0.13)))
    torn = RouterOutput("international_shipping", "international_shipping", 1.0,
                        (("international_shipping", 0.67), ("return_costs", 0.29)))
    assert switches_entry("ok what about returns from germany?", returns, torn, "international_shipping", faq)
    assert not switches_entry("and returns from germany cost what?", returns, torn, "international_shipping",
                              faq)
    assert not switches_entry("what about returns?", returns, torn, "return_costs", faq), "the same entry"
    # "what about for europe?" after the Christmas deadlines: read with them, surely about them.
    europe = RouterOutput("international_shipping", "international_shipping", 1.0,
                          (("international_shipping", 0.58),))
    deadlines = RouterOutput("christmas_deadlines", "christmas_deadlines", 1.0,
                             (("christmas_deadlines", 0.99),))
    assert not switches_entry("what about for europe?", europe, deadlines, "christmas_deadlines", faq)
    # Alone "what about klarna?" reads as the favourites (a route, not an FAQ entry): it stays.
    klarna = RouterOutput("recommend", "recommend", 1.0, (("recommend", 0.71), ("pay_later", 0.05)))
    assert not switches_entry("what about klarna?", klarna, torn, "payment_methods", faq)
    unsure = RouterOutput("returns", "returns", 0.9, (("returns", 0.4),))
    assert not switches_entry("what about returns?", unsure, torn, "international_shipping", faq)


def test_social_replies_stand_alone_after_an_answer(reader: ContextReader) -> None:
    slots = Slots(turns=1, topic="faq", faq_topic="international_shipping")
    for text in ("ok thanks", "great, bye!", "thank you so much", "yes please"):
        assert read(reader, text, slots).act is None, text
    # Asking nothing new about the same subject is still read with it.
    damaged = Slots(turns=1, topic="faq", faq_topic="damaged_items")
    reading = read(reader, "how long do i have to tell you?", damaged)
    assert reading.act == "faq" and reading.text.startswith("my item arrived broken?")
    assert read(reader, "thanks, that helps", damaged).act is None


def test_after_a_greeting_or_thanks_the_next_message_stands_alone(reader: ContextReader) -> None:
    # "hello? red lanterns" read as one message was a second greeting to the router.
    for topic in ("greeting", "thanks", "goodbye"):
        slots = Slots(turns=1, topic="faq", faq_topic=topic)
        assert read(reader, "red lanterns", slots).act is None, topic


def test_which_is_cheaper_after_comparing_two_compares_those_two(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    codes = named(catalogue, "cake stand")
    slots = after_search(codes, "cake stands")
    compared = read(reader, "compare the first two", slots)
    assert compared.act == "compare" and compared.refers_to == tuple(codes[:2])
    after = Slots(turns=2, shown_products=tuple(codes[:6]), topic="product", search=slots.search,
                  compared=tuple(codes[:2]))
    assert read(reader, "which is cheaper?", after).refers_to == tuple(codes[:2])
    # Without that comparison just before, every card shown.
    assert read(reader, "which is cheaper?", slots).refers_to == tuple(codes[:6])


def test_no_x_ones_leaves_them_out_but_no_red_means_red(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    bags = after_search(named(catalogue, "lunch bag"), "lunch bags")
    left_out = read(reader, "no polkadot ones please", bags)
    assert left_out.act == "refine" and left_out.search is not None
    assert left_out.search.without == ("polkadot",) and "lunch" in left_out.search.words
    bowls = after_search(named(catalogue, "bowl"), "green bowls")
    switched = read(reader, "no red", bowls)
    assert switched.act == "correct" and switched.search is not None and switched.search.colour == "red"


def test_a_colour_changed_replaces_the_one_said_and_keeps_the_material(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    codes = named(catalogue, "bowl")
    corrected = read(reader, "no, blue", after_search(codes, "pink glass bowls"))
    assert corrected.act == "correct" and corrected.search is not None
    search = corrected.search
    assert (search.words, search.colour, search.material) == ("bowls", "blue", "glass")
    refined = read(reader, "and in green?", after_search(codes, "pink glass bowls"))
    assert refined.search is not None and refined.search.query() == "green glass bowls"


def test_a_correction_names_another_version_of_the_product_asked_about(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    pink, mint = named(catalogue, "pink diner wall clock")[0], named(catalogue, "mint diner wall clock")[0]
    slots = Slots(turns=1, shown_products=(pink,), last_product=pink, topic="product", aspect="price")
    reading = read(reader, "sorry, the mint one", slots)
    assert reading.act == "correct" and reading.refers_to == (mint,) and reading.aspect == "price"


def test_a_few_words_after_a_search_change_what_describes_it(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    notebooks = after_search(named(catalogue, "paisley"), "paisley notebooks")
    reading = read(reader, "what about fern?", notebooks)
    assert reading.search is not None and reading.search.words.split() == ["fern", "notebooks"]
    # A kind the catalogue names with two words keeps both ("t-light holders", not "holders").
    holders = after_search(named(catalogue, "t-light holder"), "heart t-light holders")
    star = read(reader, "what about star ones?", holders)
    assert star.search is not None and star.search.words.endswith("light holders")


def test_which_is_the_priciest_compares_the_cards_shown(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    codes = named(catalogue, "doorstop")
    slots = after_search(codes, "doorstops")
    for text in ("which one's the priciest?", "whats the most expensive one there", "lowest priced one?",
                 "which of these would cost me the least"):
        reading = read(reader, text, slots)
        assert reading.act == "compare" and reading.refers_to == tuple(codes[:6]), text
    # Not a question about the cards shown: a search of its own.
    assert read(reader, "show me your cheapest candles", slots).act != "compare"


def test_a_price_said_any_way_narrows_the_search(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    slots = after_search(named(catalogue, "owl"), "my daughter collects owls, what could i get her")
    for text, ceiling in (("keep it under four pounds please", 4.0), ("less than £3 if poss", 3.0),
                          ("nothing over £3 please", 3.0), ("under £4 ideally", 4.0)):
        reading = read(reader, text, slots)
        assert reading.act == "refine" and reading.search is not None, text
        assert reading.search.max_price == ceiling and reading.search.min_price is None, text


def test_follow_ups_written_the_way_shoppers_type_them(
    reader: ContextReader, catalogue: dict[str, Product]
) -> None:
    green = named(catalogue, "green cat floral cushion cover")[0]
    pink = named(catalogue, "pink cat floral cushion cover")[0]
    asked = Slots(turns=1, shown_products=(green,), last_product=green, topic="product", aspect="price")
    assert read(reader, "n the pink version?", asked).refers_to == (pink,)
    bags = after_search(named(catalogue, "lunch bag"), "lunch bags")
    nothing = read(reader, "nothing vintage please", bags)
    assert nothing.search is not None and nothing.search.without == ("vintage",)
    plates = after_search(named(catalogue, "plate"), "pink plates")
    meant = read(reader, "oops, meant bowls", plates)
    assert meant.act == "correct" and meant.search is not None
    assert (meant.search.words, meant.search.colour) == ("bowls", "pink"), "what was not corrected stays"


def test_a_present_is_searched_by_what_its_recipient_is_into() -> None:
    for text, words in (("gift for my husband, he's london mad", "london"),
                        ("my granddaughter loves butterflies, what would you suggest", "butterflies"),
                        ("my daughter collects owls, what could i get her", "owls")):
        assert search_of(text, extract(text)).words == words, text
    assert search_of("a present for my 8 year old niece", extract("x")).prefer == CHILD_CATEGORIES
    assert search_of("i like the red one", extract("x")).words == "i like the red one", "no present"


def test_a_present_with_nothing_said_of_what_kind_searches_no_words() -> None:
    # Who it is for and the occasion are not what it is: the words found birthday cards.
    for text in ("a birthday present for my mum under £10",
                 "do you have a gift for a teacher under 10 pounds", "a present for my sister's birthday",
                 "secret santa gift ideas", "present for a 12 year old boy"):
        search = search_of(text, extract(text))
        assert search.present and search.words == "", text
    christmas = search_of("a christmas present for my teacher", extract("x"))
    assert christmas.present and "christmas" in christmas.words.split()
    assert search_of("I need a housewarming gift for my new neighbours", extract("x")).words == "housewarming"
    for text in ("gift bags", "do you sell gift wrap", "red candles"):
        assert not search_of(text, extract(text)).present, text
    assert search_of("what's the cheapest candle you have?", extract("x")).order == "ascending"
    assert search_of("your most expensive clock", extract("x")).order == "descending"
    assert search_of("red candles", extract("x")).order is None


def test_whether_a_product_speaks_of_an_interest(catalogue: dict[str, Product]) -> None:
    by_name = {p.name: p for p in catalogue.values()}
    assert about(by_name["Gardeners Kneeling Pad Keep Calm"], "gardening")
    assert about(by_name["Jumbo Bag Owls"], "owls") and about(by_name["Owl Doorstop"], "owls")
    assert not any(about(p, "golf") for p in catalogue.values()), "the demo shop sells nothing for golf"
    assert not about(by_name["Jumbo Bag Owls"], "gardening")
    assert things("unicorns") == "unicorn things" and things("golf") == "golf things"
