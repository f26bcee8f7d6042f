"""The gold set: every turn an auditor reviewed becomes a test case for the next model.

- ``correct``: the route and entry the turn got are what a candidate must give again.
- ``incorrect`` with a promotion (``retrieval.corrections``): the promoted entry is expected;
  without one, anything but the wrong answer it got.
- ``unsafe``: a decline or a hand-over to a person.

Only the latest review of a turn counts; turns a person answered, or that failed, are left out
(the router did not decide them). Texts are the turn log's, redacted when they were logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine

from bot.training.offline import Routed
from core.turns import Route
from monitoring.turnlog.reviews import Verdict, reviewed_messages
from retrieval.corrections import changes

_SKIPPED = {str(Route.HUMAN), str(Route.ERROR)}


class Expect(StrEnum):
    """What a gold case asks of a model."""

    ENTRY = "entry"  # answered from this knowledge entry
    ROUTE = "route"  # this route (declines, generated answers, product lists, actions)
    NOT = "not"  # anything but this route and entry
    REFUSE = "refuse"  # a decline or a hand-over to a person


@dataclass(frozen=True)
class GoldCase:
    """One reviewed turn as a test case."""

    turn_id: str
    text: str
    verdict: Verdict
    expect: Expect
    route: str
    label: str

    def passes(self, routed: Routed) -> bool:
        """Whether a model's routing of the text is what the case asks for."""
        if self.expect is Expect.ENTRY:
            return routed.entry == self.label
        if self.expect is Expect.ROUTE:
            return str(routed.route) == self.route and (routed.entry is None or routed.entry == self.label)
        if self.expect is Expect.REFUSE:
            return routed.route in (Route.DECLINE, Route.HANDOFF)
        return not (str(routed.route) == self.route and routed.label == self.label)

    def to_json(self) -> dict[str, str]:
        """The API and report shape."""
        return {"turn_id": self.turn_id, "text": self.text, "verdict": str(self.verdict),
                "expect": str(self.expect), "route": self.route, "label": self.label}


def gold_cases(engine: Engine) -> list[GoldCase]:
    """The gold set as it stands now (empty before the first review), oldest review first."""
    reviewed = reviewed_messages(engine)
    promoted: dict[str, str] = {}
    if reviewed and inspect(engine).has_table(changes.name):
        active = select(changes.c.turn_id, changes.c.entry_id).where(
            changes.c.turn_id.is_not(None), changes.c.undone_at.is_(None)).order_by(changes.c.id)
        with engine.connect() as conn:
            promoted = {r.turn_id: r.entry_id for r in conn.execute(active)}
    cases = []
    for message in reviewed:
        case = _case(message.turn_id, message.verdict, message.text, message.route, message.label,
                     promoted.get(message.turn_id))
        if case is not None:
            cases.append(case)
    return cases


def _case(turn_id: str, verdict: Verdict, text: str, route: str, label: str,
          promoted: str | None) -> GoldCase | None:
    if route in _SKIPPED or not text.strip():
        return None
    if promoted is not None:
        # The auditor said where it belongs, whatever the verdict was.
        return GoldCase(turn_id, text, verdict, Expect.ENTRY, str(Route.FAQ), promoted)
    if verdict is Verdict.UNSAFE:
        return GoldCase(turn_id, text, verdict, Expect.REFUSE, route, label)
    if verdict is Verdict.INCORRECT:
        return GoldCase(turn_id, text, verdict, Expect.NOT, route, label)
    # A right FAQ answer must come from the same entry; any other right turn from the same route.
    faq = route == str(Route.FAQ) and label not in ("", "out_of_scope")
    return GoldCase(turn_id, text, verdict, Expect.ENTRY if faq else Expect.ROUTE, route, label)


def gold_accuracy(cases: Sequence[GoldCase], routed: Sequence[Routed]) -> float | None:
    """Share of cases passed; None when there are none."""
    if not cases:
        return None
    return sum(c.passes(r) for c, r in zip(cases, routed, strict=True)) / len(cases)
