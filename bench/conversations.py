"""Multi-turn conversations, end to end: is each follow-up answered in the context of what came before?

    python bench/conversations.py --split dev                       # follow-ups resolved, per kind
    python bench/conversations.py --split dev --failures            # ... and every failure
    python bench/conversations.py --split test --out /tmp/test.md   # the same as Markdown
    python bench/conversations.py --kind ordinal --limit 5 --json
    python bench/conversations.py --split dev --alone               # each follow-up without its setup

Starts ``shopbot run`` on the built var/ (or ``--var``; from another checkout with ``--repo``)
with a throwaway SQLite turn log, plays every conversation of
``data/eval/conversations_<split>.jsonl`` through Rasa's REST channel (a fresh sender per
conversation, its turns in order), reads each turn's route and answer label from the turn log
(by the ``X-Shopbot-Turn-Id`` header), and checks each follow-up's ``expect`` against what the
shopper saw, relative to what the bot showed earlier in the conversation. Setup turns are not
scored. The expectation language, the taxonomy and the dev/test split rule are documented in
data/eval/conversations.md; ``check`` below is that language's one implementation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import shlex
import statistics
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.shop import Product, load_products  # noqa: E402
from harness.polling import until_sync  # noqa: E402
from harness.sections import replace_section  # noqa: E402

DATA = ROOT / "data" / "eval"
# The taxonomy of issue 26, in report order; "standalone" holds the controls that refer to nothing.
KINDS = ("ordinal", "pronoun", "ellipsis", "refinement", "correction", "comparison", "more", "similar",
         "attribute", "faq", "gift", "standalone")
# The split rule (data/eval/conversations.md): within each kind, ids sorted, shuffled with this
# seed, the first DEV_SHARE (rounded) go to dev. Fixed before any tuning; never re-drawn.
SPLIT_SEED = 26
DEV_SHARE = 0.6

TURN_KEYS = {"say", "expect", "need"}
CONVERSATION_KEYS = {"id", "kind", "turns", "note"}
CARD_KEYS = {"min_count", "allow_empty", "min_share", "min_price", "max_price", "name_any", "name_none",
             "category", "category_none", "cheaper_than_turn", "new_vs_turn", "like_shown"}
EXPECT_KEYS = {"route", "faq", "text_any", "text_none", "about", "price_of", "bought_with_of",
               "about_shown", "price_of_shown", "mentions_shown", "mentions_none_shown", "pick_shown",
               "cards", "sorted", "any_of"}
# Words that make two product names look alike without making the products alike (``like_shown``).
_PLAIN = frozenset([
    "and", "with", "the", "for", "set", "pack", "box", "small", "large", "medium", "mini", "big", "jumbo",
    "assorted", "design", "pink", "red", "blue", "white", "green", "silver", "black", "ivory", "cream",
    "gold", "purple", "yellow", "natural", "brown", "orange", "grey", "pastel", "turquoise", "lilac",
    "multicolour", "colour", "colours"])
_PRICE = re.compile(r"£\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?")


# ------------------------------------------------------------------ what the shopper saw


@dataclass(frozen=True)
class Card:
    """One product card of a reply (``custom.products``)."""

    stock_code: str
    name: str
    price: float
    category: str = ""


@dataclass
class Reply:
    """One turn as the shopper saw it, with its route and answer label from the turn log."""

    say: str
    status: int
    text: str = ""
    cards: list[Card] = field(default_factory=list)
    turn_id: str | None = None
    route: str | None = None
    label: str | None = None

    @classmethod
    def of(cls, say: str, status: int, body: Any, turn_id: str | None) -> Reply:
        """Parse a Rasa REST reply (a list of messages; cards in ``custom.products``)."""
        messages = body if isinstance(body, list) else []
        texts = [str(m["text"]) for m in messages if isinstance(m, dict) and m.get("text")]
        cards = [Card(str(p.get("stock_code", "")), str(p.get("name", "")), float(p.get("price") or 0.0),
                      str(p.get("category", "")))
                 for m in messages if isinstance(m, dict)
                 for p in ((m.get("custom") or {}).get("products") or []) if isinstance(p, dict)]
        return cls(say, status, "\n".join(texts), cards, turn_id)

    def codes(self) -> list[str]:
        return [c.stock_code for c in self.cards]

    def brief(self) -> dict[str, Any]:
        """What came back, short enough for a failure list."""
        return {"text": self.text[:300], "cards": [f"{c.name} £{c.price:.2f}" for c in self.cards],
                "route": self.route, "label": self.label, "status": self.status}


def words(text: str) -> str:
    """Lower-case words and numbers joined by single spaces (names compare on these)."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def prices_in(text: str) -> list[float]:
    """Every £ amount in ``text``."""
    return [float(whole.replace(",", "") + "." + (pence or "0")) for whole, pence in _PRICE.findall(text)]


class Catalogue:
    """The shop's products, and which of them a text names."""

    def __init__(self, products: Iterable[Product]) -> None:
        self.products = {p.stock_code: p for p in products}
        by_name: dict[str, Product] = {}
        for p in self.products.values():
            by_name.setdefault(words(p.name), p)
        self.by_name = by_name
        # One-word names ("Decoration") are words, not names, in running text.
        self._names = sorted({n for n in by_name if len(n.split()) >= 2}, key=len, reverse=True)

    def __getitem__(self, code: str) -> Product:
        return self.products[code]

    def named(self, text: str) -> set[str]:
        """Normalised names of the products ``text`` names."""
        low = f" {words(text)} "
        return {n for n in self._names if f" {n} " in low}

    def price_range(self, code: str) -> tuple[float, float]:
        p = self.products[code]
        lo, hi = p.facts.get("price_min"), p.facts.get("price_max")
        return min(p.price, p.price if lo is None else lo), max(p.price, p.price if hi is None else hi)


def names(text: str, card: Card) -> bool:
    """``text`` names the product by its whole name or its stock code."""
    low = f" {words(text)} "
    return f" {words(card.name)} " in low or f" {card.stock_code.lower()} " in low


def first_named(text: str, cards: Sequence[Card]) -> Card | None:
    """Of ``cards``, the one whose name or stock code comes first in ``text``."""
    low = f" {words(text)} "
    found = []
    for card in cards:
        spots = [i for i in (low.find(f" {words(card.name)} "), low.find(f" {card.stock_code.lower()} "))
                 if i >= 0]
        if spots:
            found.append((min(spots), card))
    return min(found, key=lambda f: f[0])[1] if found else None


def matches(name: str, term: str) -> bool:
    """``term`` is a word of ``name`` (a plural too); ``term*`` is a word's start."""
    low = name.lower()
    if term.endswith("*"):
        return re.search(r"\b" + re.escape(term[:-1].lower()), low) is not None
    return re.search(r"\b" + re.escape(term.lower()) + r"(?:s|es)?\b", low) is not None


# ------------------------------------------------------------------ the expectation language


class SetupError(Exception):
    """A follow-up refers to something an earlier turn did not show: the setup was not met."""


@dataclass
class Context:
    """The conversation up to and including the turn being checked."""

    replies: Sequence[Reply]
    at: int
    catalogue: Catalogue

    @property
    def reply(self) -> Reply:
        return self.replies[self.at]

    def turn(self, ref: int) -> Reply:
        """An earlier turn: ``-1`` the one before, ``0`` the first."""
        index = self.at + ref if ref < 0 else ref
        if not 0 <= index < self.at:
            raise SetupError(f"turn {ref} is not an earlier turn of this conversation")
        return self.replies[index]

    def shown(self, ref: dict[str, Any]) -> Card:
        """The card at ``index`` (negative from the end) of turn ``turn`` (default -1)."""
        turn, index = self.turn(int(ref.get("turn", -1))), int(ref["index"])
        if not -len(turn.cards) <= index < len(turn.cards):
            raise SetupError(f"turn {ref.get('turn', -1)} ({turn.say!r}) showed {len(turn.cards)} cards, "
                             f"no card {index}")
        return turn.cards[index]

    def card_of(self, code: str) -> Card:
        p = self.catalogue[code]
        return Card(p.stock_code, p.name, p.price, p.category)

    def new_cards(self, ref: int) -> bool:
        """This reply's cards are not a repeat of turn ``ref``'s (a re-shown list proves nothing)."""
        return self.reply.codes() != self.turn(ref).codes()


Check = Callable[[Any, Context], list[str]]


def _states_price(ctx: Context, card: Card) -> bool:
    lo, hi = ctx.catalogue.price_range(card.stock_code) if card.stock_code in ctx.catalogue.products \
        else (card.price, card.price)
    return any(lo - 0.005 <= amount <= hi + 0.005 for amount in prices_in(ctx.reply.text))


def _states_exact(ctx: Context, card: Card) -> bool:
    return any(abs(amount - card.price) < 0.005 for amount in prices_in(ctx.reply.text))


def _about(ctx: Context, card: Card, rivals: Sequence[Card], first_card_counts: bool) -> bool:
    """The reply is about ``card``: its card comes first, or the text names it before any rival,
    or the text names no product at all and states its exact price (no rival at that price)."""
    reply = ctx.reply
    if first_card_counts and reply.cards and reply.cards[0].stock_code == card.stock_code:
        return True
    if names(reply.text, card):
        first = first_named(reply.text, [card, *rivals])
        return first is not None and first.stock_code == card.stock_code
    return (not ctx.catalogue.named(reply.text) and _states_exact(ctx, card)
            and not any(abs(r.price - card.price) < 0.005 for r in rivals))


def _price_of(ctx: Context, card: Card, first_card_counts: bool) -> bool:
    """The reply states ``card``'s price: its card comes first (cards show prices), or the text
    states a price in its catalogue range and names it, or names no product at all."""
    reply = ctx.reply
    if first_card_counts and reply.cards and reply.cards[0].stock_code == card.stock_code:
        return True
    return _states_price(ctx, card) and (names(reply.text, card) or not ctx.catalogue.named(reply.text))


def _mentioned(ctx: Context, card: Card, others: Sequence[Card], cards_count: bool) -> bool:
    """Named, shown as a card (when the cards are not a re-shown list), or its exact price stated
    while no other product compared has that price."""
    if cards_count and card.stock_code in ctx.reply.codes():
        return True
    if names(ctx.reply.text, card):
        return True
    return _states_exact(ctx, card) and not any(abs(o.price - card.price) < 0.005 for o in others)


def _describe(card: Card) -> str:
    return f"{card.name} ({card.stock_code}, £{card.price:.2f})"


def check_route(value: Any, ctx: Context) -> list[str]:
    wanted = [value] if isinstance(value, str) else list(value)
    return [] if ctx.reply.route in wanted else [f"route {ctx.reply.route!r}, expected one of {wanted}"]


def check_faq(value: Any, ctx: Context) -> list[str]:
    wanted = [value] if isinstance(value, str) else list(value)
    got = ctx.reply
    if got.route == "faq" and got.label in wanted:
        return []
    return [f"answer {got.route}/{got.label}, expected faq {wanted}"]


def check_text_any(value: Any, ctx: Context) -> list[str]:
    low = ctx.reply.text.lower()
    return [] if any(str(v).lower() in low for v in value) else [f"text has none of {list(value)}"]


def check_text_none(value: Any, ctx: Context) -> list[str]:
    low = ctx.reply.text.lower()
    bad = [v for v in value if str(v).lower() in low]
    return [f"text has {bad}"] if bad else []


def check_about(value: Any, ctx: Context) -> list[str]:
    card = ctx.card_of(str(value))
    return [] if _about(ctx, card, [], True) else [f"not about {_describe(card)}"]


def check_price_of(value: Any, ctx: Context) -> list[str]:
    card = ctx.card_of(str(value))
    return [] if _price_of(ctx, card, True) else [f"no price of {_describe(card)}"]


def check_bought_with_of(value: Any, ctx: Context) -> list[str]:
    product = ctx.catalogue[str(value)]
    partners = [words(n) for n in product.facts.get("bought_with") or []]
    if not partners:
        raise SetupError(f"{product.name} has no bought-with products in the catalogue")
    shown = [words(c.name) for c in ctx.reply.cards]
    low = f" {words(ctx.reply.text)} "
    if not any(n in shown or f" {n} " in low for n in partners):
        return [f"names none of what {product.name} is bought with: {product.facts['bought_with']}"]
    # A list that happens to hold a partner (the shop's favourites) is not an answer about this product.
    own = words(product.name)
    if own in shown or f" {own} " in low or all(n in partners for n in shown):
        return []
    return [f"shows what {product.name} is bought with among other products, without naming it"]


def check_about_shown(value: Any, ctx: Context) -> list[str]:
    card = ctx.shown(value)
    turn = ctx.turn(int(value.get("turn", -1)))
    rivals = [c for c in turn.cards if c.stock_code != card.stock_code]
    if _about(ctx, card, rivals, ctx.new_cards(int(value.get("turn", -1)))):
        return []
    return [f"not about card {value['index']} of turn {value.get('turn', -1)}: {_describe(card)}"]


def check_price_of_shown(value: Any, ctx: Context) -> list[str]:
    card = ctx.shown(value)
    if _price_of(ctx, card, ctx.new_cards(int(value.get("turn", -1)))):
        return []
    return [f"no price of card {value['index']} of turn {value.get('turn', -1)}: {_describe(card)}"]


def _compared(value: Any, ctx: Context) -> list[Card]:
    ref = int(value.get("turn", -1))
    indexes = value.get("indexes")
    if indexes is None:
        turn = ctx.turn(ref)
        if len(turn.cards) < 2:
            raise SetupError(f"turn {ref} ({turn.say!r}) showed {len(turn.cards)} cards, nothing to compare")
        return list(turn.cards)
    return [ctx.shown({"turn": ref, "index": i}) for i in indexes]


def check_mentions_shown(value: Any, ctx: Context) -> list[str]:
    cards = _compared(value, ctx)
    fresh = ctx.new_cards(int(value.get("turn", -1)))
    missing = [c for c in cards if not _mentioned(ctx, c, [o for o in cards if o is not c], fresh)]
    return [f"does not mention {', '.join(_describe(c) for c in missing)}"] if missing else []


def check_mentions_none_shown(value: Any, ctx: Context) -> list[str]:
    cards = _compared(value, ctx)
    fresh = ctx.new_cards(int(value.get("turn", -1)))
    named = [c for c in cards if _mentioned(ctx, c, [o for o in cards if o is not c], fresh)]
    return [f"mentions {', '.join(_describe(c) for c in named)}"] if named else []


def check_sorted(value: Any, ctx: Context) -> list[str]:
    prices = [c.price for c in ctx.reply.cards]
    if len(prices) < 2:
        return [f"{len(prices)} cards shown, nothing in order"]
    wanted = sorted(prices, reverse=value == "descending")
    return [] if prices == wanted else [f"prices {prices} are not {value}"]


def check_pick_shown(value: Any, ctx: Context) -> list[str]:
    cards = _compared(value, ctx)
    pick = value.get("pick", "cheapest")
    best = (min if pick == "cheapest" else max)(c.price for c in cards)
    winners = [c for c in cards if abs(c.price - best) < 0.005]
    losers = [c for c in cards if abs(c.price - best) >= 0.005]
    fresh = ctx.new_cards(int(value.get("turn", -1)))
    for w in winners:
        if not _mentioned(ctx, w, [o for o in cards if o is not w], fresh):
            continue
        priced = (fresh and w.stock_code in ctx.reply.codes()) or _states_exact(ctx, w)
        if priced or not any(_mentioned(ctx, o, [x for x in cards if x is not o], fresh) for o in losers):
            return []
    return [f"does not pick the {pick}: {', '.join(_describe(w) for w in winners)}"]


def _like_words(name: str) -> set[str]:
    return {w for w in words(name).split() if len(w) >= 3 and not w.isdigit() and w not in _PLAIN}


def _card_faults(spec: dict[str, Any], card: Card, ctx: Context) -> list[str]:
    """Why ``card`` does not meet ``spec``'s per-card conditions (empty when it does)."""
    faults = []
    if "min_price" in spec and card.price < float(spec["min_price"]) - 0.005:
        faults.append(f"under £{spec['min_price']}")
    if "max_price" in spec and card.price > float(spec["max_price"]) + 0.005:
        faults.append(f"over £{spec['max_price']}")
    if "name_any" in spec and not any(matches(card.name, t) for t in spec["name_any"]):
        faults.append(f"name has none of {spec['name_any']}")
    if "name_none" in spec and any(matches(card.name, t) for t in spec["name_none"]):
        faults.append(f"name has one of {spec['name_none']}")
    if "category" in spec:
        allowed = [spec["category"]] if isinstance(spec["category"], str) else list(spec["category"])
        if card.category not in allowed:
            faults.append(f"category {card.category!r}")
    if "category_none" in spec and card.category in spec["category_none"]:
        faults.append(f"category {card.category!r}")
    if "cheaper_than_turn" in spec:
        median = statistics.median(c.price for c in ctx.turn(int(spec["cheaper_than_turn"])).cards)
        if card.price >= median - 0.005:
            faults.append(f"not under that turn's median £{median:.2f}")
    shown_before = [code for r in _refs(spec.get("new_vs_turn", [])) for code in ctx.turn(r).codes()]
    if card.stock_code in shown_before:
        faults.append("already shown")
    if "like_shown" in spec:
        like = ctx.shown(spec["like_shown"])
        if card.stock_code == like.stock_code or not _like_words(card.name) & _like_words(like.name):
            faults.append(f"not like {like.name}")
    return faults


def _refs(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list) else [int(value)]


def _earlier_cards(spec: dict[str, Any], ctx: Context) -> None:
    """Raise :class:`SetupError` when a condition refers to cards an earlier turn did not show."""
    for ref in _refs(spec.get("cheaper_than_turn", [])) + _refs(spec.get("new_vs_turn", [])):
        if not ctx.turn(ref).cards:
            raise SetupError(f"turn {ref} ({ctx.turn(ref).say!r}) showed no cards")
    if "like_shown" in spec:
        ctx.shown(spec["like_shown"])


def check_cards(value: Any, ctx: Context) -> list[str]:
    reasons = []
    for spec in value if isinstance(value, list) else [value]:
        _earlier_cards(spec, ctx)
        cards = ctx.reply.cards
        need = 0 if spec.get("allow_empty") else int(spec.get("min_count", 1))
        if len(cards) < need:
            reasons.append(f"{len(cards)} cards shown, expected at least {need}")
            continue
        faults = [(c, _card_faults(spec, c, ctx)) for c in cards]
        meeting = sum(not f for _, f in faults)
        wanted = math.ceil(float(spec.get("min_share", 1.0)) * len(cards) - 1e-9)
        if meeting < wanted:
            bad = "; ".join(f"{c.name}: {', '.join(f)}" for c, f in faults if f)
            reasons.append(f"{meeting}/{len(cards)} cards meet the conditions (need {wanted}): {bad}")
    # Two conditions failing for want of any card say the same thing once.
    return list(dict.fromkeys(reasons))


def check_any_of(value: Any, ctx: Context) -> list[str]:
    reasons: list[str] = []
    for alternative in value:
        failed = check(alternative, ctx)
        if not failed:
            return []
        reasons.append(" and ".join(failed))
    return [f"none of: {' | '.join(reasons)}"]


CHECKS: dict[str, Check] = {
    "route": check_route, "faq": check_faq, "text_any": check_text_any, "text_none": check_text_none,
    "about": check_about, "price_of": check_price_of, "bought_with_of": check_bought_with_of,
    "about_shown": check_about_shown, "price_of_shown": check_price_of_shown,
    "mentions_shown": check_mentions_shown, "mentions_none_shown": check_mentions_none_shown,
    "pick_shown": check_pick_shown, "cards": check_cards, "sorted": check_sorted, "any_of": check_any_of,
}
assert set(CHECKS) == EXPECT_KEYS


def check(expect: dict[str, Any], ctx: Context) -> list[str]:
    """Why the reply at ``ctx.at`` does not meet ``expect`` (every key must hold); empty when it does.

    Raises :class:`SetupError` when ``expect`` refers to something an earlier turn did not show.
    """
    if ctx.reply.status != 200:
        return [f"HTTP {ctx.reply.status}"]
    reasons: list[str] = []
    for key, value in expect.items():
        reasons += CHECKS[key](value, ctx)
    return reasons


# ------------------------------------------------------------------ the conversations


def load(path: Path) -> list[dict[str, Any]]:
    """The conversations of a JSON-lines file, validated."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    validate(rows)
    return rows


def validate(conversations: Sequence[dict[str, Any]]) -> None:
    """Raise ``ValueError`` on an unknown kind or key, a duplicate id, or a turn with nothing to do."""
    seen: set[str] = set()
    for conv in conversations:
        cid = conv.get("id")
        if not isinstance(cid, str) or cid in seen:
            raise ValueError(f"missing or repeated id {cid!r}")
        seen.add(cid)
        if set(conv) - CONVERSATION_KEYS or conv.get("kind") not in KINDS:
            raise ValueError(f"{cid}: unknown keys {sorted(set(conv) - CONVERSATION_KEYS)} "
                             f"or kind {conv.get('kind')!r}")
        turns = conv.get("turns") or []
        if not any("expect" in t for t in turns):
            raise ValueError(f"{cid}: no turn with an expectation")
        for turn in turns:
            if set(turn) - TURN_KEYS or not isinstance(turn.get("say"), str) or not turn["say"].strip():
                raise ValueError(f"{cid}: bad turn {turn}")
            for key in ("expect", "need"):
                _validate_expect(cid, turn.get(key, {}))


def _validate_expect(cid: str, expect: dict[str, Any]) -> None:
    unknown = set(expect) - EXPECT_KEYS
    if unknown:
        raise ValueError(f"{cid}: unknown expectations {sorted(unknown)}")
    cards = expect.get("cards", {})
    for spec in cards if isinstance(cards, list) else [cards]:
        if set(spec) - CARD_KEYS:
            raise ValueError(f"{cid}: unknown card conditions {sorted(set(spec) - CARD_KEYS)}")
    if expect.get("sorted", "ascending") not in ("ascending", "descending"):
        raise ValueError(f"{cid}: sorted is ascending or descending")
    if expect.get("pick_shown", {}).get("pick", "cheapest") not in ("cheapest", "dearest"):
        raise ValueError(f"{cid}: pick_shown picks the cheapest or the dearest")
    for alternative in expect.get("any_of", []):
        _validate_expect(cid, alternative)


def split(conversations: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The documented dev/test split: per kind, ids sorted, shuffled with a fixed seed, the first
    60 % (rounded) to dev. Both lists come back in taxonomy order, then by id."""
    dev_ids: set[str] = set()
    for kind in KINDS:
        ids = sorted(c["id"] for c in conversations if c["kind"] == kind)
        random.Random(f"conversations-{SPLIT_SEED}-{kind}").shuffle(ids)
        dev_ids.update(ids[:round(DEV_SHARE * len(ids))])
    ordered = sorted(conversations, key=lambda c: (KINDS.index(c["kind"]), c["id"]))
    return [c for c in ordered if c["id"] in dev_ids], [c for c in ordered if c["id"] not in dev_ids]


def alone(conversations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each follow-up as a conversation of its own, without the turns before it: what a bot that
    ignores the conversation would score (a follow-up about earlier cards cannot be resolved)."""
    return [{"id": f"{c['id']}@{at}", "kind": c["kind"], "turns": [{"say": t["say"], "expect": t["expect"]}]}
            for c in conversations for at, t in enumerate(c["turns"]) if "expect" in t]


def concatenated(conversations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each follow-up sent after the shopper's message before it, in one text: the simplest
    rewriting baseline (the history prepended, as in CANARD's "previous question" baseline),
    measured against the old engine with ``--repo`` to choose the context method."""
    out = []
    for conv in conversations:
        turns, before = [], None
        for turn in conv["turns"]:
            said = f"{before} {turn['say']}" if "expect" in turn and before else turn["say"]
            turns.append({**turn, "say": said})
            before = turn["say"]
        out.append({**conv, "turns": turns})
    return out


# ------------------------------------------------------------------ playing and scoring


async def play(base: str, conversations: Sequence[dict[str, Any]], concurrency: int = 4,
               run_id: str | None = None) -> list[list[Reply]]:
    """Every conversation through Rasa's REST channel, each under a fresh sender, turns in order."""
    run = run_id or "".join(random.choices(string.ascii_lowercase, k=8))
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=120)

    async def one(session: aiohttp.ClientSession, conv: dict[str, Any]) -> list[Reply]:
        sender = f"eval-{run}-{conv['id']}"
        replies = []
        async with gate:
            for turn in conv["turns"]:
                async with session.post(f"{base}/webhooks/rest/webhook",
                                        json={"sender": sender, "message": turn["say"]}) as resp:
                    body = await resp.json(content_type=None) if resp.status == 200 else await resp.text()
                    turn_id = resp.headers.get("X-Shopbot-Turn-Id")
                    replies.append(Reply.of(turn["say"], resp.status, body, turn_id))
        return replies

    async with aiohttp.ClientSession(timeout=timeout) as session:
        return list(await asyncio.gather(*(one(session, c) for c in conversations)))


def attach_log(transcripts: Sequence[Sequence[Reply]], database_url: str, timeout_s: float = 60.0) -> None:
    """Set each reply's route and answer label from its turn-log record (waits for the writer)."""
    from core.db import make_engine
    from monitoring.turnlog import TurnLog

    log = TurnLog(make_engine(database_url))
    wanted = {r.turn_id for t in transcripts for r in t if r.turn_id}

    def logged() -> dict[str, Any] | None:
        records = {rec.turn_id: rec for rec in log.records() if rec.turn_id in wanted}
        return records if set(records) == wanted else None

    records = until_sync(logged, timeout_s=timeout_s, interval_s=0.5, what="every turn in the turn log")
    for transcript in transcripts:
        for reply in transcript:
            record = records.get(reply.turn_id or "")
            if record is not None:
                reply.route, reply.label = str(record.route), record.metadata.get("label")


@dataclass
class Item:
    """One scored follow-up."""

    conversation: str
    kind: str
    turn: int
    say: str
    expect: dict[str, Any]
    passed: bool
    reasons: list[str]
    setup_failed: bool
    reply: dict[str, Any]
    history: list[dict[str, Any]]


def score(conversations: Sequence[dict[str, Any]], transcripts: Sequence[Sequence[Reply]],
          catalogue: Catalogue) -> list[Item]:
    """Every follow-up with an ``expect``, checked; a setup turn's unmet ``need`` fails those after it."""
    items = []
    for conv, replies in zip(conversations, transcripts, strict=True):
        setup: list[str] = []
        for at, turn in enumerate(conv["turns"]):
            ctx = Context(replies, at, catalogue)
            if "need" in turn and not setup:
                try:
                    unmet = check(turn["need"], ctx)
                except SetupError as err:
                    unmet = [str(err)]
                setup = [f"setup turn {at} ({turn['say']!r}): {r}" for r in unmet]
            if "expect" not in turn:
                continue
            reasons, failed_setup = list(setup), bool(setup)
            if not setup:
                try:
                    reasons = check(turn["expect"], ctx)
                except SetupError as err:
                    reasons, failed_setup = [f"setup: {err}"], True
            items.append(Item(conv["id"], conv["kind"], at, turn["say"], turn["expect"], not reasons, reasons,
                              failed_setup, replies[at].brief(),
                              [{"say": r.say, **r.brief()} for r in replies[:at]]))
    return items


def summarise(items: Sequence[Item]) -> dict[str, Any]:
    """Follow-ups resolved per kind and overall."""
    kinds: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        mine = [i for i in items if i.kind == kind]
        if mine:
            ok = sum(i.passed for i in mine)
            kinds[kind] = {"resolved": ok, "total": len(mine), "percent": round(100 * ok / len(mine), 1),
                           "setup_failed": sum(i.setup_failed for i in mine)}
    ok = sum(i.passed for i in items)
    # The controls (standalone) refer to nothing: the bar is on the follow-ups that do.
    referring = [i for i in items if i.kind != "standalone"]
    return {"kinds": kinds, "resolved": ok, "total": len(items),
            "percent": round(100 * ok / len(items), 1) if items else float("nan"),
            "setup_failed": sum(i.setup_failed for i in items),
            "referring": {"resolved": sum(i.passed for i in referring), "total": len(referring),
                          "percent": round(100 * sum(i.passed for i in referring) / len(referring), 1)
                          if referring else float("nan")}}


def markdown(summary: dict[str, Any], items: Sequence[Item], meta: dict[str, str], failures: bool) -> str:
    """The per-kind table (and the failures) as a Markdown section between its own markers."""
    begin, end = markers(meta["section"])
    lines = [begin, f"### Conversations: {meta['split']} split ({meta['label']})", "",
             f"Commit `{meta['commit']}`, {meta['date']}, load average {meta['load']}; "
             f"`{meta['command']}`.", "",
             "| kind | follow-ups resolved | total | % | setup not met |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for kind, row in summary["kinds"].items():
        lines.append(f"| {kind} | {row['resolved']} | {row['total']} | {row['percent']:.1f} "
                     f"| {row['setup_failed']} |")
    ref = summary["referring"]
    lines.append(f"| all but the controls | {ref['resolved']} | {ref['total']} | {ref['percent']:.1f} | |")
    lines.append(f"| **all** | **{summary['resolved']}** | **{summary['total']}** | "
                 f"**{summary['percent']:.1f}** | {summary['setup_failed']} |")
    if failures:
        lines += ["", "#### Failures", ""]
        for item in items:
            if not item.passed:
                lines += [f"- `{item.conversation}` turn {item.turn} {item.say!r}: expected "
                          f"`{json.dumps(item.expect)}`; {'; '.join(item.reasons)}; got "
                          f"`{json.dumps(item.reply)}`"]
    return "\n".join([*lines, end]) + "\n"


def markers(section: str) -> tuple[str, str]:
    """The comments around one run's section of a Markdown file (one per split, and one alone)."""
    return f"<!-- conversations {section}: begin -->", f"<!-- conversations {section}: end -->"


def write_section(out: Path, text: str, section: str) -> None:
    """Replace this run's section of ``out`` (docs/quality.md keeps its own words around it), or append it."""
    replace_section(out, text, *markers(section))


def failure_lines(items: Sequence[Item]) -> list[str]:
    """One block per failed follow-up: the conversation, what was expected, what came back."""
    out = []
    for item in items:
        if item.passed:
            continue
        setup = " (setup not met)" if item.setup_failed else ""
        out.append(f"\n[{item.kind}] {item.conversation} turn {item.turn}{setup}")
        for h in item.history:
            out.append(f"    shopper: {h['say']}\n    bot: {h['route']}/{h['label']} {h['text'][:120]!r} "
                       f"{h['cards']}")
        out.append(f"    shopper: {item.say}\n    bot: {item.reply['route']}/{item.reply['label']} "
                   f"{item.reply['text'][:200]!r} {item.reply['cards']}")
        out.append(f"    expected {json.dumps(item.expect)}\n    failed: {'; '.join(item.reasons)}")
    return out


def _commit(repo: Path) -> str:
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%h"], cwd=repo, capture_output=True, text=True,
                              timeout=10)
        if done.returncode != 0:
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return done.stdout.strip() + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run(args: argparse.Namespace) -> int:
    from harness.server_process import ShopbotProcess

    path = args.cases or DATA / f"conversations_{args.split}.jsonl"
    conversations = [c for c in load(path) if args.kind is None or c["kind"] == args.kind]
    if args.limit:
        conversations = conversations[: args.limit]
    if args.alone:
        conversations = alone(conversations)
    if args.concatenate:
        conversations = concatenated(conversations)
    if not conversations:
        print("no conversations to play", file=sys.stderr)
        return 2
    var = args.var or Path(os.environ.get("SHOPBOT_VAR_DIR", ROOT / "var"))
    catalogue = Catalogue(load_products(var / "shop"))
    repo = args.repo or ROOT
    with tempfile.TemporaryDirectory(prefix="shopbot-conversations-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'turns.sqlite3'}"
        env = {"SHOPBOT_JOURNAL_DIR": str(Path(tmp) / "journal")}
        if args.repo:
            env["PYTHONPATH"] = str(args.repo)
        server = ShopbotProcess(var, url, env)
        # The server inherits this process's stdout; keep its log lines out of the report (--json).
        saved = os.dup(1)
        sys.stdout.flush()
        os.dup2(2, 1)
        try:
            asyncio.run(server.start())
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        try:
            transcripts = asyncio.run(play(server.base, conversations, args.concurrency))
            attach_log(transcripts, url)
        finally:
            server.stop()
    items = score(conversations, transcripts, catalogue)
    summary = summarise(items)
    label = f"{args.label}, follow-ups sent alone" if args.alone else args.label
    label = f"{label}, each follow-up after the message before it" if args.concatenate else label
    split = args.split if args.cases is None else path.stem
    section = split + (" alone" if args.alone else "") + (" concatenated" if args.concatenate else "")
    meta = {"split": split, "section": section, "label": label,
            "commit": _commit(repo), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
            "command": "python " + shlex.join(["bench/conversations.py", *sys.argv[1:]])}
    if args.json:
        print(json.dumps({"meta": meta, "summary": summary, "items": [asdict(i) for i in items]}, indent=1))
    else:
        print(f"{meta['split']} split, commit {meta['commit']}: follow-ups resolved per kind")
        for kind, row in summary["kinds"].items():
            print(f"  {kind:<11} {row['resolved']:>3}/{row['total']:<3} {row['percent']:5.1f} %"
                  + (f"   ({row['setup_failed']} setup not met)" if row["setup_failed"] else ""))
        ref = summary["referring"]
        print(f"  {'referring':<11} {ref['resolved']:>3}/{ref['total']:<3} {ref['percent']:5.1f} %   "
              "(all but the standalone controls)")
        print(f"  {'all':<11} {summary['resolved']:>3}/{summary['total']:<3} {summary['percent']:5.1f} %")
        if args.failures:
            print("\n".join(failure_lines(items)))
    if args.out:
        write_section(args.out, markdown(summary, items, meta, args.failures), meta["section"])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--split", choices=("dev", "test"), default="dev",
                        help="which file of data/eval/ to play (tune on dev; report test)")
    parser.add_argument("--cases", type=Path, help="play this JSON-lines file instead of a split")
    parser.add_argument("--kind", choices=KINDS, help="only conversations of this kind")
    parser.add_argument("--limit", type=int, help="only the first N conversations")
    parser.add_argument("--failures", action="store_true", help="list every failed follow-up")
    parser.add_argument("--json", action="store_true", help="print the summary and every item as JSON")
    parser.add_argument("--out", type=Path,
                        help="write the per-kind table (and failures) as a Markdown section of this file, "
                             "replacing the run's earlier section (make bench: docs/quality.md)")
    parser.add_argument("--var", type=Path, help="the built var dir (default $SHOPBOT_VAR_DIR or var/)")
    parser.add_argument("--repo", type=Path, help="run the server from another checkout (before/after)")
    parser.add_argument("--concatenate", action="store_true",
                        help="send each follow-up after the shopper's message before it (a baseline)")
    parser.add_argument("--alone", action="store_true",
                        help="send each follow-up without the turns before it (the score without context)")
    parser.add_argument("--label", default="this checkout", help="what the run is, for the report")
    parser.add_argument("--concurrency", type=int, default=4, help="conversations played at once")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
