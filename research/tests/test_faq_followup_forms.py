"""The FAQ follow-up forms study: its choice and scoring on hand-made router outputs."""

from __future__ import annotations

from core.turns import RouterOutput
from research.tests.research_script import load_research_script

forms = load_research_script("faq_followup_forms")


def out(label: str, p: float) -> RouterOutput:
    return RouterOutput(label, label, p, ((label, p),))


def test_a_message_clear_alone_stands_alone_else_the_context_form_answers() -> None:
    unclear = forms.Item("a", "trade_account", "how long does approval take?",
                         {"text_any": ["2 working days"]}, out("order_confirmation", 0.40),
                         out("trade_account", 0.94), out("trade_account", 0.78))
    clear = forms.Item("b", "returns", "do you sell doormats?", {"cards": {}},
                       out("product_search", 1.0), out("returns", 0.44), out("returns", 0.5))
    answers = {"trade_account": "Approval takes up to 2 working days.", "returns": "30 days."}
    scores = forms.score([unclear, clear], answers)
    assert scores["alone"] == 1 and scores["qfirst"] == 1
    assert scores["alone if ≥ 0.9, else qfirst"] == 2


def test_answered_reads_text_faq_and_cards_expectations() -> None:
    assert forms.answered("x", {"text_any": ["FREE"]}, {"x": "returns are free"})
    assert forms.answered("x", {"faq": ["y", "x"]}, {})
    assert not forms.answered("x", {"cards": {}}, {})
