from bot.dialogue.memory import Slots
from bot.dialogue.nlu import extract
from bot.dialogue.policy import RoutingThresholds, decide
from monitoring.schema import Hit, Route
from retrieval.routing import RoutingScores

T = RoutingThresholds(answer=0.6, product=0.45)


def _scores(label: str, score: float, product: float = 0.0) -> RoutingScores:
    products = (Hit("23169", "product", product, "Classic Glass Cookie Jar"),) if product else ()
    return RoutingScores(((label, score), ("other", score - 0.2)), (), products)


def test_confident_faq_and_intents() -> None:
    assert decide(_scores("delivery_times", 0.8), extract("x"), Slots(), T).route is Route.FAQ
    assert decide(_scores("handoff", 0.8), extract("x"), Slots(), T).route is Route.HANDOFF
    assert decide(_scores("product_search", 0.7), extract("x"), Slots(), T).route is Route.PRODUCTS
    assert decide(_scores("out_of_scope", 0.9), extract("x"), Slots(), T).route is Route.DECLINE


def test_order_number_wins_when_unsure() -> None:
    d = decide(_scores("returns", 0.5), extract("573415 ?"), Slots(), T)
    assert d.route is Route.ORDER_STATUS


def test_low_score_about_products_generates_else_declines() -> None:
    assert decide(_scores("returns", 0.4, 0.6), extract("x"), Slots(), T).route is Route.GENERATE
    assert decide(_scores("returns", 0.4, 0.2), extract("x"), Slots(), T).route is Route.DECLINE


def test_similar_needs_a_previous_product() -> None:
    text = extract("something like that one?")
    assert not decide(_scores("recommend", 0.8), text, Slots(), T).similar
    assert decide(_scores("recommend", 0.8), text, Slots(last_product="23169"), T).similar


def test_payload_intent() -> None:
    d = decide(_scores("returns", 0.1), extract("/recommend"), Slots(), T)
    assert (d.route, d.confidence) == (Route.RECOMMEND, 1.0)
