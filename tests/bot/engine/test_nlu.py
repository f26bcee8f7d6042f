import pytest

from bot.engine.nlu import asked_order_number, extract, product_query, reader


def test_order_numbers() -> None:
    assert extract("where is my order 573415?").order_number == "573415"
    assert extract("order c573415 was cancelled").order_number == "C573415"
    assert extract("it cost £573415.00").order_number is None
    assert extract("where is it now?").order_number is None


def test_a_shops_own_order_numbers() -> None:
    shopify = reader(r"#?\d{4,8}")
    assert shopify("where is order #1001?").order_number == "#1001"
    assert shopify("is 12345678 on its way").order_number == "12345678"
    assert shopify("it cost £1001").order_number is None and shopify("order 123").order_number is None
    assert reader()("where is my order 573415?").order_number == "573415"  # the default: the demo's
    assert reader("[A-Z]{2}-\\d{5}")("has ab-12345 shipped?").order_number == "AB-12345"


@pytest.mark.parametrize(("reply", "number"), [
    ("12345", "12345"), ("it's #1001", "1001"), ("order no. AB-1234", "AB-1234"),
    ("my order is 5551234", "5551234"),
    ("no idea sorry", None), ("42", None), ("07700 900123", None), ("SW1A 1AA", None), ("thanks", None),
])
def test_a_bare_reply_to_the_order_question_is_the_number(reply: str, number: str | None) -> None:
    assert asked_order_number(extract(reply), reply).order_number == number
    # A number the patterns found already is kept as found.
    assert asked_order_number(extract("573415"), "573415").order_number == "573415"


def test_price_ranges_need_a_currency() -> None:
    e = extract("gifts under £5")
    assert (e.min_price, e.max_price) == (None, 5.0)
    e = extract("something between £10 and £20 please")
    assert (e.min_price, e.max_price) == (10.0, 20.0)
    e = extract("bags over 3 pounds")
    assert (e.min_price, e.max_price) == (3.0, None)
    assert extract("delivery in over 3 days?").max_price is None


def test_references_back_and_payloads() -> None:
    assert extract("something like that one?").refers_back
    assert not extract("recommend something").refers_back
    assert extract("/handoff").payload_intent == "handoff"
    assert extract("/ handoff").payload_intent is None


def test_product_query_strips_lead_ins_and_prices() -> None:
    assert product_query("Do you sell cookie jars?") == "cookie jars"
    assert product_query("gifts under £5") == "gifts"
    assert product_query("I'm looking for a red handbag") == "red handbag"
    assert product_query("I'm after a watering can") == "watering can"


@pytest.mark.parametrize(("text", "aspect"), [
    ("how much does the jumbo bag red cost?", "price"),
    ("is the set of 6 ribbons popular?", "popularity"),
    ("how many are in the pack of 12 tissues?", "pack"),
    ("which countries have you sent the cookie jar to?", "shipping"),
    ("what goes well with the cookie jar?", "bought_with"),
    ("what colour is the lunch box", "colour"),
    ("what is the doormat made of?", "material"),
    ("tell me about the cookie jar", "overview"),
    ("is the lunch box dishwasher safe?", None),
    ("what are the dimensions of the pack 3 boxes?", None),
])
def test_what_a_product_question_asks_about(text: str, aspect: str | None) -> None:
    assert extract(text).product_aspect == aspect


def test_prices_in_words_and_ceilings_said_with_over() -> None:
    for text, low, high in (("under four pounds", None, 4.0), ("less than twenty quid", None, 20.0),
                            ("nothing over £3 please", None, 3.0), ("no more than 10 pounds", None, 10.0),
                            ("candles over £3", 3.0, None), ("not over £5", None, 5.0)):
        found = extract(text)
        assert (found.min_price, found.max_price) == (low, high), text


@pytest.mark.parametrize(("text", "interest"), [
    ("I need a gift for my mum, she loves gardening", "gardening"),
    ("a present for my husband, he's london mad", "london"),
    ("my sister collects owls, any gift ideas?", "owls"),
    ("something for my wife, she is into baking", "baking"),
    ("I’m after a present for my son, he’s obsessed with dinosaurs", "dinosaurs"),
    ("can you recommend something?", None),
    ("i like the red one", None),  # no present: the shopper's own taste is a search, not an interest
    ("gift ideas for my 8 year old niece", None),
    ("my mum loves it, can it be gift wrapped?", None),
    ("a present for my dad, he likes the red one", None),
    ("birthday present for my brother, he loves to cook", "cook"),
])
def test_what_a_presents_recipient_is_into(text: str, interest: str | None) -> None:
    assert extract(text).interest == interest


@pytest.mark.parametrize(("text", "quantity"), [
    ("I'll take 3, how much would that be?", 3),
    ("how much for four?", 4),
    ("how much are 6 of them", 6),
    ("i need a dozen", 12),
    ("price x10", 10),
    ("how much is number 3", None),  # an ordinal
    ("anything under £3", None),  # a price
    ("how much for the 2nd one", None),
    ("is it a pack of 3?", None),
    ("how much is it for 2 people", None),
    ("delivery for 3 days", None),
    ("i want 1", None),  # one is the price itself
])
def test_how_many_the_shopper_would_buy(text: str, quantity: int | None) -> None:
    assert extract(text).quantity == quantity
    if quantity is not None:
        assert extract(text).product_aspect is not None, "a quantity asks what they come to"


def test_a_message_about_a_child() -> None:
    assert extract("gift ideas for my 8 year old niece").child
    assert extract("something for the kids").child
    assert not extract("a present for my mum, she loves gardening").child
