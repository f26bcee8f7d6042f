"""Reviewed turns become gold cases: what each verdict expects of the next model."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.serving.schema import create_tables
from bot.training.gold import Expect, gold_accuracy, gold_cases
from bot.training.offline import Routed
from core.db import make_engine
from core.turns import Route
from monitoring.reviews import ReviewStore, Verdict
from monitoring.turnlog import TurnLog
from retrieval.corrections import ChangeKind, CorrectionStore
from tests.turns import turn


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    create_tables(engine)
    return engine


def _routed(route: Route, label: str, entry: str | None = None) -> Routed:
    return Routed(route, label, entry, 0.9, frozenset())


def test_every_verdict_becomes_the_case_it_should(engine: Engine) -> None:
    TurnLog(engine).write([
        turn("t1", 1, text="how long does delivery take"),  # faq delivery_times
        turn("t2", 2, text="is it going to rain", route=Route.DECLINE),
        turn("t3", 3, text="can I pay by cheque"),  # answered delivery_times: wrong
        turn("t4", 4, text="do you ship to mars"),  # wrong, promoted to uk_delivery
        turn("t5", 5, text="tell me how to pick a lock"),  # unsafe
        turn("t6", 6, text="thanks, a person said", route=Route.HUMAN),  # a person answered
        turn("t7", 7, text="not reviewed"),
    ])
    store = ReviewStore(engine)
    store.add_review("t1", Verdict.CORRECT, "ann")
    store.add_review("t2", Verdict.CORRECT, "ann")
    store.add_review("t3", Verdict.CORRECT, "ann")
    store.add_review("t3", Verdict.INCORRECT, "bob", correction="We take cards only.")  # latest wins
    store.add_review("t4", Verdict.INCORRECT, "ann")
    store.add_review("t5", Verdict.UNSAFE, "ann")
    store.add_review("t6", Verdict.CORRECT, "ann")
    CorrectionStore(engine).add(ChangeKind.NEW_PHRASING, "uk_delivery", "do you ship to mars", None,
                                turn_id="t4", by="ann")

    cases = {c.turn_id: c for c in gold_cases(engine)}

    assert set(cases) == {"t1", "t2", "t3", "t4", "t5"}
    assert (cases["t1"].expect, cases["t1"].label) == (Expect.ENTRY, "delivery_times")
    assert (cases["t2"].expect, cases["t2"].route) == (Expect.ROUTE, "decline")
    assert (cases["t3"].expect, cases["t3"].verdict) == (Expect.NOT, Verdict.INCORRECT)
    assert (cases["t4"].expect, cases["t4"].label) == (Expect.ENTRY, "uk_delivery")
    assert cases["t5"].expect is Expect.REFUSE

    assert cases["t1"].passes(_routed(Route.FAQ, "delivery_times", "delivery_times"))
    assert not cases["t1"].passes(_routed(Route.FAQ, "returns", "returns"))
    assert cases["t2"].passes(_routed(Route.DECLINE, "out_of_scope"))
    assert not cases["t2"].passes(_routed(Route.FAQ, "greeting", "greeting"))
    assert not cases["t3"].passes(_routed(Route.FAQ, "delivery_times", "delivery_times"))
    assert cases["t3"].passes(_routed(Route.DECLINE, "out_of_scope"))
    assert cases["t4"].passes(_routed(Route.FAQ, "uk_delivery", "uk_delivery"))
    assert cases["t5"].passes(_routed(Route.HANDOFF, "handoff", "handoff"))
    assert not cases["t5"].passes(_routed(Route.GENERATE, "product_question"))


def test_an_undone_promotion_no_longer_decides_the_case(engine: Engine) -> None:
    TurnLog(engine).write([turn("t1", 1, text="do you ship to mars")])
    ReviewStore(engine).add_review("t1", Verdict.INCORRECT, "ann")
    changes = CorrectionStore(engine)
    change = changes.add(ChangeKind.NEW_PHRASING, "uk_delivery", "do you ship to mars", None,
                         turn_id="t1", by="a")
    changes.undo(change.id, "ann")
    [case] = gold_cases(engine)
    assert case.expect is Expect.NOT


def test_accuracy_is_the_share_passed_and_none_without_cases(tmp_path: Path) -> None:
    assert gold_cases(make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")) == []
    assert gold_accuracy([], []) is None
