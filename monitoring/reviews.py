"""The auditors' view of the turn log: turns listed and read redacted, with their reviews.

Everything returned is redacted by the one :class:`~monitoring.redact.Redactor` the store is
built with (the record factory's, so the shop's own contact details stay and a shopper's go):
``user_text`` was redacted when logged, bot responses and reviewer text are redacted here. The
SQL is the turn log's (:mod:`monitoring.turnlog`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from core.db import as_utc
from core.turns import TurnRecord
from monitoring.redact import Redactor
from monitoring.transcripts import Transcripts
from monitoring.turnlog import listing, table
from monitoring.turnlog import reviews as review_table
from monitoring.turnlog.listing import Cursor, TurnFilter
from monitoring.turnlog.reviews import Review, Verdict

# Routing details shown to auditors; other metadata keys stay out until someone vets them.
ROUTING_KEYS = ("label", "confidence", "grounding", "ranking")


@dataclass(frozen=True)
class ReviewedTurn:
    """A turn (redacted) with its latest review."""

    record: TurnRecord
    review: Review | None

    def to_json(self) -> dict[str, Any]:
        """API shape: the turn-log JSON plus confidence, feedback and the latest review."""
        return {
            **self.record.to_json(),
            "confidence": self.record.metadata.get("confidence"),
            "feedback": self.record.metadata.get("feedback"),
            "review": self.review.to_json() if self.review else None,
        }


@dataclass(frozen=True)
class TurnPage:
    """One page of turns and the cursor of the next (None on the last page)."""

    items: tuple[ReviewedTurn, ...]
    next_cursor: str | None


@dataclass(frozen=True)
class TurnDetail:
    """A turn with its conversation around it, its evidence and its review history."""

    turn: ReviewedTurn
    before: tuple[TurnRecord, ...]
    after: tuple[TurnRecord, ...]
    reviews: tuple[Review, ...]

    def to_json(self) -> dict[str, Any]:
        """API shape."""
        record = self.turn.record
        return {
            "turn": self.turn.to_json(),
            "latency_ms": {k: round(v, 2) for k, v in record.latency_ms.items()},
            "evidence": {
                "hits": [h.to_json() for h in record.hits],
                "passages": [str(p) for p in record.metadata.get("evidence") or []],
            },
            "routing": {k: record.metadata.get(k) for k in ROUTING_KEYS},
            "context": {
                "before": [r.to_json() for r in self.before],
                "after": [r.to_json() for r in self.after],
            },
            "reviews": [r.to_json() for r in self.reviews],
            "reading": self._reading(),
            # A generated draft the verifier did not send (redacted when logged).
            "withheld_draft": record.metadata.get("withheld_draft"),
        }

    def _reading(self) -> dict[str, Any] | None:
        """How the message was read in its conversation; None when it stood alone.

        The resolved reading was redacted when logged; the products it referred to are named
        from the (redacted) cards and the product hits of this turn and of the turns before it.
        """
        meta = self.turn.record.metadata
        if not meta.get("context_act") and not meta.get("resolved"):
            return None
        names = _product_names((self.turn.record, *reversed(self.before)))
        return {
            "resolved": meta.get("resolved"),
            "act": meta.get("context_act"),
            "refers_to": [
                {"stock_code": code, "name": names.get(code)} for code in meta.get("refers_to") or ()
            ],
        }


def _product_names(records: Iterable[TurnRecord]) -> dict[str, str]:
    """Stock code to name from the records' product cards and hits, the first record's first."""
    names: dict[str, str] = {}
    for record in records:
        for card in _cards(record):
            if isinstance(card, dict) and isinstance(card.get("stock_code"), str) and card.get("name"):
                names.setdefault(card["stock_code"], str(card["name"]))
        for hit in record.hits:
            if hit.kind == "product" and hit.text:
                names.setdefault(hit.id, hit.text)
    return names


def _cards(record: TurnRecord) -> list[Any]:
    """The product cards of a record's replies (a Rasa project's custom payload may be anything)."""
    found: list[Any] = []
    for message in record.response:
        custom = message.get("custom")
        products = custom.get("products") if isinstance(custom, dict) else None
        if isinstance(products, list):
            found.extend(products)
    return found


class ReviewStore:
    """Reviews and turn queries on the turn log's database (blocking: call from a worker thread)."""

    def __init__(self, engine: Engine, redactor: Redactor | None = None) -> None:
        self.engine = engine
        # Without the shop's details, nothing personal-looking is kept: the safe default.
        self.redactor = redactor or Redactor()

    def create(self) -> None:
        """Create the turn and review tables when missing."""
        table.metadata.create_all(self.engine)
        review_table.create(self.engine)

    def redacted(self, record: TurnRecord) -> TurnRecord:
        """``record`` as auditors see it: every string in its responses redacted, ``ts`` in UTC."""
        return replace(record, ts=as_utc(record.ts),
                       response=tuple(self.redactor.json(m) for m in record.response))

    def add_review(
        self,
        turn_id: str,
        verdict: Verdict,
        reviewer: str,
        correction: str | None = None,
        note: str | None = None,
        now: datetime | None = None,
    ) -> Review | None:
        """Store a review (correction and note redacted); None when the turn is not logged."""
        review = Review(
            id=0,
            turn_id=turn_id,
            verdict=Verdict(verdict),
            reviewer=reviewer,
            ts=as_utc(now or datetime.now(UTC)),
            correction=self.redactor.text(correction) if correction is not None else None,
            note=self.redactor.text(note) if note is not None else None,
        )
        return review_table.add_review(self.engine, review)

    def reviews_of(self, turn_id: str) -> list[Review]:
        """Every review of a turn, newest first."""
        return review_table.reviews_of(self.engine, turn_id)

    def list_turns(
        self,
        filters: TurnFilter,
        limit: int = 50,
        cursor: Cursor | None = None,
        *,
        oldest_first: bool = False,
    ) -> TurnPage:
        """One page of matching turns, newest first unless ``oldest_first``."""
        found, after = listing.page(self.engine, filters, limit, cursor, view=self.redacted,
                                    oldest_first=oldest_first)
        latest = review_table.latest_reviews(self.engine, [r.turn_id for r in found])
        items = tuple(ReviewedTurn(r, latest.get(r.turn_id)) for r in found)
        return TurnPage(items, after.encode() if after is not None else None)

    def iter_pages(self, filters: TurnFilter, page_size: int = 500) -> Iterator[tuple[ReviewedTurn, ...]]:
        """Every matching turn, oldest first, one page at a time (for exports)."""
        cursor: Cursor | None = None
        while True:
            page = self.list_turns(filters, page_size, cursor, oldest_first=True)
            yield page.items
            if page.next_cursor is None:
                return
            cursor = Cursor.decode(page.next_cursor)

    def turn_detail(self, turn_id: str, context: int = 5) -> TurnDetail | None:
        """A turn with up to ``context`` turns before and after it in its conversation."""
        found = Transcripts(self.engine).around(turn_id, context)
        if found is None:
            return None
        history = tuple(self.reviews_of(turn_id))
        return TurnDetail(
            ReviewedTurn(self.redacted(found.turn.record), history[0] if history else None),
            tuple(self.redacted(t.record) for t in found.before),
            tuple(self.redacted(t.record) for t in found.after),
            history,
        )


__all__ = [
    "Cursor", "Review", "ReviewStore", "ReviewedTurn", "TurnDetail", "TurnFilter", "TurnPage", "Verdict",
]
