from bot.engine.interfaces import Decision, Reading, Signals, Slots
from bot.engine.nlu import extract
from bot.engine.policy import RoutingThresholds, answered_entry, decide
from core.turns import Hit, Route, RouterOutput, RoutingScores

T = RoutingThresholds(product=0.45)


def _routed(label: str, confidence: float) -> RouterOutput:
    # The router answers exactly when its confidence is above one half.
    return RouterOutput(label if confidence > 0.5 else None, label, confidence, ((label, 0.9),))


def _products(score: float = 0.0) -> RoutingScores:
    products = (Hit("23169", "product", score, "Classic Glass Cookie Jar"),) if score else ()
    return RoutingScores((), (), products)


def _decide(label: str, confidence: float, text: str = "x", product: float = 0.0,
            slots: Slots | None = None) -> Decision:
    signals = Signals(_routed(label, confidence), _products(product), extract(text), slots or Slots())
    return decide(signals, T)


def test_answered_faq_and_intents() -> None:
    assert _decide("delivery_times", 0.8).route is Route.FAQ
    assert _decide("handoff", 0.8).route is Route.HANDOFF
    assert _decide("product_search", 0.7).route is Route.PRODUCTS
    assert _decide("product_question", 0.7).route is Route.GENERATE


def test_declined_message_declines() -> None:
    d = _decide("returns", 0.3)
    assert (d.route, d.label, d.confidence) == (Route.DECLINE, "out_of_scope", 0.3)


def test_order_number_wins_when_router_declines() -> None:
    assert _decide("returns", 0.4, "573415 ?").route is Route.ORDER_STATUS
    assert _decide("returns", 0.9, "can I return order 573415?").route is Route.FAQ


def test_declined_but_about_a_product_generates() -> None:
    assert _decide("returns", 0.4, product=0.6).route is Route.GENERATE
    assert _decide("returns", 0.4, product=0.2).route is Route.DECLINE


def test_declined_with_a_price_range_shows_products() -> None:
    assert _decide("returns", 0.2, "anything under £5?").route is Route.PRODUCTS


def test_similar_needs_a_previous_product() -> None:
    assert not _decide("recommend", 0.8, "something like that one?").similar
    assert _decide("recommend", 0.8, "something like that one?", slots=Slots(last_product="23169")).similar


def test_a_present_for_someone_into_something_is_a_search_for_it() -> None:
    # "she loves gardening": gardening things, not the shop's favourites.
    assert _decide("recommend", 0.8, "a gift for my mum, she loves gardening").route is Route.PRODUCTS
    assert _decide("recommend", 0.8, "can you recommend a present?").route is Route.RECOMMEND
    # For a child: things for children first.
    assert _decide("recommend", 0.8, "gift ideas for my 8 year old niece").route is Route.PRODUCTS
    # A price: the favourites under it (the recommend action's ignore prices).
    assert _decide("recommend", 0.8, "gift ideas under £10").route is Route.PRODUCTS
    # Things like the product in focus stay the recommender's.
    similar = _decide("recommend", 0.8, "something like that one for my mum, she loves it",
                      slots=Slots(last_product="23169"))
    assert similar.route is Route.RECOMMEND and similar.similar


def test_payload_intent() -> None:
    d = _decide("returns", 0.1, "/recommend")
    assert (d.route, d.confidence) == (Route.RECOMMEND, 1.0)


def test_answered_entry_is_the_label_only_when_answering_from_knowledge() -> None:
    assert answered_entry(_decide("delivery_times", 0.8)) == "delivery_times"
    assert answered_entry(_decide("order_status", 0.8)) == "order_status"
    assert answered_entry(_decide("product_question", 0.8)) is None
    assert answered_entry(_decide("returns", 0.3)) is None
    assert answered_entry(_decide("returns", 0.3, product=0.9)) is None


def _named(label: str, confidence: float, text: str) -> Decision:
    named = Hit("22630", "product", 1.0, "Dolly Girl Lunch Box")
    signals = Signals(_routed(label, confidence), RoutingScores((), (), (), named), extract(text), Slots())
    return decide(signals, T)


def test_a_named_product_and_a_fact_question_is_a_product_question_not_the_faq() -> None:
    # The router may match "what is it made of" to a general FAQ entry; the named product wins.
    d = _named("materials", 0.9, "what is the dolly girl lunch box made of?")
    assert (d.route, d.label) == (Route.GENERATE, "product_question")
    assert _named("recommend", 0.9, "what goes well with the dolly girl lunch box?").route is Route.GENERATE


def test_a_named_product_without_a_fact_question_keeps_the_faq_answer() -> None:
    assert _named("returns", 0.9, "can I return the dolly girl lunch box?").route is Route.FAQ
    assert _named("handoff", 0.9, "a person please about the dolly girl lunch box").route is Route.HANDOFF


def test_a_declined_question_about_a_named_product_is_answered_about_it() -> None:
    d = _named("returns", 0.2, "is the dolly girl lunch box microwave safe?")
    assert d.route is Route.GENERATE


def test_an_faq_follow_up_the_router_reads_as_the_topic_is_answered_from_it() -> None:
    slots = Slots(turns=1, topic="faq", faq_topic="damaged_items")
    reading = Reading("my parcel arrived damaged? how long?", resolved="...", act="faq")
    # The router's best reading is the topic, but it would decline the short message alone.
    unsure = RouterOutput(None, "damaged_items", 0.45, (("damaged_items", 0.45), ("warranty", 0.3)))
    signals = Signals(unsure, _products(), extract("how long?"), slots, reading=reading)
    assert decide(signals, T) == Decision(Route.FAQ, "damaged_items", 0.45)
    # Another topic the router is sure of is that topic; one it is unsure of declines.
    other = RouterOutput("returns", "returns", 0.9, (("returns", 0.9),))
    assert decide(Signals(other, _products(), extract("x"), slots, reading=reading), T).label == "returns"
    lost = RouterOutput(None, "warranty", 0.4, (("warranty", 0.4),))
    assert decide(Signals(lost, _products(), extract("x"), slots, reading=reading), T).route is Route.DECLINE
