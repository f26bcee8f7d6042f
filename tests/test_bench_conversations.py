"""The multi-turn conversation set and its scorer (bench/conversations.py, issue 26).

The checker is tried on hand-made replies (what a shopper would see after each turn), the data
files against their documented rules (kinds, the frozen seeded split, products that exist), and
the whole scorer once for real: a ``shopbot run`` on the built demo shop, three conversations over
Rasa's REST channel, routes and labels read back from the turn log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.shop import Product, load_products
from tests.bench_script import load_bench_script

conv = load_bench_script("conversations")
DATA = Path(conv.DATA)


def product(code: str, name: str, price: float, category: str = "Home Decor", **facts: Any) -> Product:
    return Product(code, name, price, category, facts={"price_min": price, "price_max": price, **facts})


PRODUCTS = [
    product("J1", "Classic Glass Cookie Jar", 4.15, "Kitchen & Dining", price_min=3.75, price_max=8.29,
            bought_with=["Jam Jar with Pink Lid", "Set of 12 Fairy Cake Baking Cases"]),
    product("J2", "Jam Jar with Pink Lid", 0.85, "Kitchen & Dining"),
    product("J3", "Jam Jar with Green Lid", 0.85, "Kitchen & Dining"),
    product("J4", "Glass Jar Digestive Biscuits", 2.95, "Kitchen & Dining"),
    product("C1", "Red Diner Wall Clock", 8.50),
    product("C2", "Blue Diner Wall Clock", 8.50),
    product("C3", "Alarm Clock Bakelike Red", 3.75),
    product("B1", "Set of 12 Fairy Cake Baking Cases", 0.83, "Kitchen & Dining"),
    product("S1", "Shredded Paper Filler", 1.25, "Cards & Wrapping"),
    product("F1", "White Hanging Heart T-Light Holder", 2.95, "Candles & Lighting"),
]
CATALOGUE = conv.Catalogue(PRODUCTS)
JARS = ["J1", "J4", "J2", "J3"]


def reply(say: str, text: str = "", codes: list[str] | None = None, route: str = "products",
          label: str | None = None, status: int = 200) -> Any:
    """A reply as the shopper saw it: ``codes`` are the catalogue products shown as cards, in order."""
    by_code = {p.stock_code: p for p in PRODUCTS}
    cards = [conv.Card(c, by_code[c].name, by_code[c].price, by_code[c].category) for c in codes or []]
    return conv.Reply(say, status, text, cards, turn_id=say, route=route, label=label)


def judge(expect: dict[str, Any], *replies: Any) -> list[str]:
    """Why the last of ``replies`` does not meet ``expect``."""
    return conv.check(expect, conv.Context(list(replies), len(replies) - 1, CATALOGUE))


SEARCH = reply("do you sell cookie jars?", "Here is what I found:", JARS)
FIRST = {"turn": -1, "index": 0}


# ------------------------------------------------------------------ the product in question


def test_about_shown_by_name_first_card_or_a_price_only_it_has() -> None:
    assert judge({"about_shown": FIRST}, SEARCH, reply("how much is the first one?",
                                                       "The Classic Glass Cookie Jar costs £4.15.")) == []
    assert judge({"about_shown": FIRST}, SEARCH, reply("the first one?", "Here it is:", ["J1"])) == []
    # No name, but £4.15 is the price of no other card shown, and the text names no other product.
    assert judge({"about_shown": FIRST}, SEARCH, reply("the first one?", "That one is £4.15.")) == []
    # £0.85 is the price of two of the cards shown: it says nothing about which.
    assert judge({"about_shown": {"turn": -1, "index": 2}}, SEARCH,
                 reply("and the third?", "That one is £0.85.")) != []


def test_about_shown_fails_on_another_card_a_repeated_list_or_a_new_search() -> None:
    wrong = reply("how much is the first one?", "The Glass Jar Digestive Biscuits cost £2.95.")
    assert judge({"about_shown": FIRST}, SEARCH, wrong) == [
        "not about card 0 of turn -1: Classic Glass Cookie Jar (J1, £4.15)"]
    # Named second, after another card of that turn: the answer is about the other one.
    both = reply("the first one?", "The Jam Jar with Pink Lid is cheaper than the Classic Glass Cookie Jar.")
    assert judge({"about_shown": FIRST}, SEARCH, both) != []
    # The same list again has J1 first, as before: it proves nothing about "the first one".
    assert judge({"about_shown": FIRST}, SEARCH, reply("the first one?", "Here is what I found:", JARS)) != []
    assert judge({"about_shown": {"turn": -1, "index": -1}}, SEARCH,
                 reply("the last one?", "Jam Jar with Green Lid, £0.85", ["J3"])) == []


def test_price_of_accepts_the_catalogue_range_and_refuses_another_products_price() -> None:
    said = reply("how much is it?", "It has sold for £8.29.")
    assert judge({"price_of": "J1"}, said) == []
    assert judge({"price_of": "J1"}, reply("how much is it?", "It costs £9.50.")) == [
        "no price of Classic Glass Cookie Jar (J1, £4.15)"]
    other = reply("how much is it?", "The Glass Jar Digestive Biscuits cost £3.95.")
    assert judge({"price_of": "J1"}, other) != [], "a price in range, but of another product"
    assert judge({"price_of_shown": FIRST}, SEARCH, reply("and the first?", "The Classic Glass Cookie Jar "
                                                                             "costs £4.15.")) == []


def test_about_a_named_product() -> None:
    assert judge({"about": "C1"}, reply("how big is it?", "The Red Diner Wall Clock is 30 cm across.")) == []
    assert judge({"about": "C1"}, reply("how big is it?", "Here is what I found:", ["C1", "C2"])) == []
    assert judge({"about": "C1"}, reply("how big is it?", "Here is what I found:", ["C2", "C1"])) == [
        "not about Red Diner Wall Clock (C1, £8.50)"]


def test_bought_with_needs_a_partner_and_this_product_not_a_list_that_happens_to_hold_one() -> None:
    good = reply("what goes with it?", "The Classic Glass Cookie Jar is often bought with the Jam Jar "
                                       "with Pink Lid.", ["J1"])
    assert judge({"bought_with_of": "J1"}, good) == []
    partners = reply("what goes with it?", "Often bought together:", ["J2", "B1"])
    assert judge({"bought_with_of": "J1"}, partners) == []
    favourites = reply("what goes with it?", "Here are our customers' favourites:", ["F1", "J2", "C3"])
    assert judge({"bought_with_of": "J1"}, favourites) == [
        "shows what Classic Glass Cookie Jar is bought with among other products, without naming it"]
    assert judge({"bought_with_of": "J1"}, reply("what goes with it?", "Here you go", ["C3"])) != []


# ------------------------------------------------------------------ comparisons


def test_pick_shown_names_the_cheapest_alone_or_with_its_price() -> None:
    pick = {"pick_shown": {"turn": -1, "indexes": [0, 1], "pick": "cheapest"}}
    assert judge(pick, SEARCH, reply("which is cheaper?", "The Glass Jar Digestive Biscuits.")) == []
    assert judge(pick, SEARCH, reply("which is cheaper?", "The Classic Glass Cookie Jar is £4.15 and the "
                                                          "Glass Jar Digestive Biscuits £2.95.")) == []
    assert judge(pick, SEARCH, reply("which is cheaper?", "The Classic Glass Cookie Jar.")) == [
        "does not pick the cheapest: Glass Jar Digestive Biscuits (J4, £2.95)"]
    # Over every card shown: the two at £0.85 tie, and either one is right.
    cheapest = {"pick_shown": {"turn": -1, "pick": "cheapest"}}
    assert judge(cheapest, SEARCH, reply("which is cheapest?", "The Jam Jar with Green Lid, £0.85.")) == []
    dearest = {"pick_shown": {"turn": -1, "pick": "dearest"}}
    assert judge(dearest, SEARCH, reply("the dearest?", "The Jam Jar with Green Lid, £0.85.")) != []


def test_mentions_shown_wants_every_product_compared() -> None:
    compare = {"mentions_shown": {"turn": -1, "indexes": [0, 1]}}
    assert judge(compare, SEARCH, reply("the first two?", "Side by side:", ["J1", "J4"])) == []
    assert judge(compare, SEARCH, reply("the first two?", "The Classic Glass Cookie Jar is glass.")) == [
        "does not mention Glass Jar Digestive Biscuits (J4, £2.95)"]


def test_mentions_none_shown_fails_on_any_card_named() -> None:
    none_of = {"mentions_none_shown": {"turn": -1, "indexes": [2, 3]}}
    cheaper = reply("which is cheaper?", "The Glass Jar Digestive Biscuits at £2.95.")
    assert judge(none_of, SEARCH, cheaper) == []
    assert judge(none_of, SEARCH, reply("which is cheaper?", "The Jam Jar with Pink Lid at £0.85.")) == [
        "mentions Jam Jar with Pink Lid (J2, £0.85)"]


# ------------------------------------------------------------------ the cards shown


def test_sorted_wants_the_cards_in_price_order() -> None:
    ascending = reply("the cheapest jars?", "Here:", ["J2", "J4", "J1"])
    assert judge({"sorted": "ascending"}, ascending) == []
    assert judge({"sorted": "descending"}, ascending) == ["prices [0.85, 2.95, 4.15] are not descending"]
    assert judge({"sorted": "ascending"}, reply("cheapest?", "Here:", ["J1"])) == [
        "1 cards shown, nothing in order"]


def test_name_terms_are_whole_words_plurals_included_or_word_starts() -> None:
    assert conv.matches("Red Diner Wall Clock", "red") and conv.matches("Jam Jars", "jar")
    assert not conv.matches("Shredded Paper Filler", "red")
    assert not conv.matches("Jardin Bell", "jar") and conv.matches("Jardin Bell", "jar*")


def test_card_conditions_hold_on_every_card_or_the_share_asked() -> None:
    cheap = reply("anything under £1?", "Here:", ["J2", "J3"])
    assert judge({"cards": {"max_price": 1}}, SEARCH, cheap) == []
    mixed = reply("only red ones", "Here:", ["C1", "C3", "C2"])
    assert judge({"cards": {"name_any": ["red"]}}, mixed) == [
        "2/3 cards meet the conditions (need 3): Blue Diner Wall Clock: name has none of ['red']"]
    assert judge({"cards": {"name_any": ["red"], "min_share": 0.5}}, mixed) == []
    assert judge({"cards": [{"name_none": ["blue"]}, {"name_any": ["clock*"], "min_share": 0.5}]},
                 reply("not blue", "Here:", ["C1", "C3"])) == []
    assert judge({"cards": {"category": ["Kitchen & Dining"]}}, cheap) == []
    assert judge({"cards": {"category_none": ["Kitchen & Dining"]}}, cheap) != []
    assert judge({"cards": {"category_none": ["Cards & Wrapping"]}}, cheap) == []
    assert judge({"cards": {"max_price": 1}}, reply("under £1?", "Sorry, nothing.")) == [
        "0 cards shown, expected at least 1"]
    assert judge({"cards": {"max_price": 1, "allow_empty": True}}, reply("under £1?", "Sorry.")) == []


def test_cheaper_new_and_like_are_relative_to_what_was_shown() -> None:
    # The search showed £4.15, £2.95, £0.85, £0.85: its median is £1.90.
    assert judge({"cards": {"cheaper_than_turn": -1}}, SEARCH, reply("cheaper?", "", ["J2", "B1"])) == []
    assert judge({"cards": {"cheaper_than_turn": -1}}, SEARCH, reply("cheaper?", "", ["J4"])) == [
        "0/1 cards meet the conditions (need 1): "
        "Glass Jar Digestive Biscuits: not under that turn's median £1.90"]
    assert judge({"cards": {"new_vs_turn": -1}}, SEARCH, reply("more", "", ["B1", "C3"])) == []
    assert judge({"cards": {"new_vs_turn": -1}}, SEARCH, reply("more", "", ["B1", "J2"])) != []
    like = {"cards": {"like_shown": {"turn": -1, "index": 2}, "min_share": 0.5}}
    assert judge(like, SEARCH, reply("more like the third", "", ["J3", "C3"])) == []  # a jam jar with a lid
    assert judge(like, SEARCH, reply("more like the third", "", ["J2", "C3"])) != [], "itself is not like it"
    nothing = reply("do you deliver?", "Yes.", route="faq")
    with pytest.raises(conv.SetupError, match="showed no cards"):
        judge({"cards": {"new_vs_turn": -1}}, nothing, reply("more", "Sorry.", []))


# ------------------------------------------------------------------ answers, the turn log, setups


def test_faq_route_text_and_alternatives() -> None:
    answer = reply("how long does it take?", "The rest of the world takes 7-10 working days.", route="faq",
                   label="international_shipping")
    assert judge({"faq": "international_shipping", "text_any": ["7-10"], "text_none": ["2-3"]}, answer) == []
    assert judge({"faq": ["uk_delivery"]}, answer) == [
        "answer faq/international_shipping, expected faq ['uk_delivery']"]
    assert judge({"route": "products"}, answer) == ["route 'faq', expected one of ['products']"]
    assert judge({"any_of": [{"faq": "uk_delivery"}, {"text_any": ["7-10"]}]}, answer) == []
    assert judge({"text_any": ["x"]}, reply("hi", status=500)) == ["HTTP 500"]


def test_setups_not_met_fail_their_follow_ups_and_say_so() -> None:
    named = [{"say": "the red diner wall clock", "need": {"about": "C1"}},
             {"say": "how much is it?", "expect": {"price_of": "C1"}}]
    conversations = [
        {"id": "t-1", "kind": "ordinal",
         "turns": [{"say": "clocks"}, {"say": "the fifth one?", "expect": {"about_shown": {"index": 4}}}]},
        {"id": "t-2", "kind": "pronoun", "turns": named},
        {"id": "t-3", "kind": "pronoun", "turns": named},
    ]
    conv.validate(conversations)
    transcripts = [
        [reply("clocks", "Here:", ["C1", "C2"]), reply("the fifth one?", "Which one?")],
        [reply("the red diner wall clock", "Here:", ["C2"]), reply("how much is it?", "It's £8.50.")],
        [reply("the red diner wall clock", "Here:", ["C1"]), reply("how much is it?", "It's £8.50.")],
    ]
    items = conv.score(conversations, transcripts, CATALOGUE)
    assert [(i.conversation, i.passed, i.setup_failed) for i in items] == [
        ("t-1", False, True), ("t-2", False, True), ("t-3", True, False)]
    assert items[0].reasons == ["setup: turn -1 ('clocks') showed 2 cards, no card 4"]
    assert items[1].reasons == ["setup turn 0 ('the red diner wall clock'): "
                                "not about Red Diner Wall Clock (C1, £8.50)"]
    summary = conv.summarise(items)
    assert summary["kinds"]["pronoun"] == {"resolved": 1, "total": 2, "percent": 50.0, "setup_failed": 1}
    assert (summary["resolved"], summary["total"], summary["setup_failed"]) == (1, 3, 2)
    assert summary["referring"] == {"resolved": 1, "total": 3, "percent": 33.3}
    meta = {"split": "dev", "section": "dev", "label": "test", "commit": "abc", "date": "today", "load": "0",
            "command": "x"}
    text = conv.markdown(summary, items, meta, True)
    assert "| pronoun | 1 | 2 | 50.0 | 1 |" in text and "`t-2` turn 1 'how much is it?'" in text


def test_a_report_replaces_its_own_section_and_keeps_the_words_around_it(tmp_path: Path) -> None:
    doc = tmp_path / "quality.md"
    doc.write_text("# Quality\n\nBefore.\n", encoding="utf-8")
    first = "<!-- conversations test: begin -->\nold table\n<!-- conversations test: end -->\n"
    conv.write_section(doc, first, "test")
    doc.write_text(doc.read_text(encoding="utf-8") + "\nAfter.\n", encoding="utf-8")
    conv.write_section(doc, first.replace("old", "new"), "test")
    conv.write_section(doc, first.replace("test", "dev"), "dev")
    assert doc.read_text(encoding="utf-8") == (
        "# Quality\n\nBefore.\n\n"
        "<!-- conversations test: begin -->\nnew table\n<!-- conversations test: end -->\n\nAfter.\n\n"
        "<!-- conversations dev: begin -->\nold table\n<!-- conversations dev: end -->\n")


def test_a_rest_reply_is_read_as_the_shopper_sees_it() -> None:
    body = [{"recipient_id": "s", "text": "Here is what I found:"},
            {"recipient_id": "s", "custom": {"type": "products", "products": [
                {"stock_code": "J1", "name": "Classic Glass Cookie Jar", "price": 4.15, "category": "K"}]}}]
    got = conv.Reply.of("jars", 200, body, "t1")
    assert (got.text, got.codes(), got.cards[0].price) == ("Here is what I found:", ["J1"], 4.15)
    assert got.turn_id == "t1"
    assert conv.prices_in("£1,000.50 or £4. or £ 2.95") == [1000.5, 4.0, 2.95]


def test_validate_refuses_what_the_scorer_would_not_understand() -> None:
    for kind, turns in (("nonsense", [{"say": "a", "expect": {}}]),
                        ("ordinal", [{"say": "a"}]),
                        ("ordinal", [{"say": "a", "expect": {"abuot": "J1"}}]),
                        ("ordinal", [{"say": "a", "expect": {"cards": {"max_prize": 1}}}]),
                        ("ordinal", [{"say": "a", "expect": {"sorted": "by name"}}]),
                        ("ordinal", [{"say": " ", "expect": {}}])):
        bad = {"id": "x", "kind": kind, "turns": turns}
        with pytest.raises(ValueError):
            conv.validate([bad])


# ------------------------------------------------------------------ the data files


def test_every_kind_has_twenty_conversations_and_a_tenth_are_controls() -> None:
    dev, test = conv.load(DATA / "conversations_dev.jsonl"), conv.load(DATA / "conversations_test.jsonl")
    counts = Counter(c["kind"] for c in dev + test)
    assert set(counts) == set(conv.KINDS)
    assert min(counts.values()) >= 20, counts
    assert len(dev + test) >= 250
    assert 0.08 <= counts["standalone"] / len(dev + test) <= 0.12
    conv.validate(dev + test)  # ids unique across both files too


def test_every_conversation_file_is_valid_and_no_id_repeats_across_them() -> None:
    """The extra development sets (conversations_dev2 … dev6) are played by path: check them too."""
    files = sorted(DATA.glob("conversations_*.jsonl"))
    assert {f.stem for f in files} >= {"conversations_dev", "conversations_test", "conversations_dev6"}
    conv.validate([c for f in files for c in conv.load(f)])


def test_the_split_is_the_documented_seeded_one() -> None:
    """Moving a conversation between dev and test after tuning would show here."""
    dev, test = conv.load(DATA / "conversations_dev.jsonl"), conv.load(DATA / "conversations_test.jsonl")
    again_dev, again_test = conv.split(dev + test)
    assert [c["id"] for c in again_dev] == [c["id"] for c in dev]
    assert [c["id"] for c in again_test] == [c["id"] for c in test]
    for kind in conv.KINDS:
        mine = [c for c in dev + test if c["kind"] == kind]
        assert sum(c["kind"] == kind for c in dev) == round(conv.DEV_SHARE * len(mine))


def test_every_named_product_is_in_the_demo_catalogue(built_var: Path) -> None:
    catalogue = {p.stock_code: p for p in load_products(built_var / "shop")}
    named: list[tuple[str, str]] = []

    def walk(expect: dict[str, Any]) -> None:
        named.extend((k, str(expect[k])) for k in ("about", "price_of", "bought_with_of") if k in expect)
        for alternative in expect.get("any_of", []):
            walk(alternative)

    for c in conv.load(DATA / "conversations_dev.jsonl") + conv.load(DATA / "conversations_test.jsonl"):
        for turn in c["turns"]:
            walk(turn.get("expect", {}))
            walk(turn.get("need", {}))
    assert len(named) >= 50
    assert [code for _, code in named if code not in catalogue] == []
    partnerless = [code for key, code in named
                   if key == "bought_with_of" and not catalogue[code].facts["bought_with"]]
    assert partnerless == []


# ------------------------------------------------------------------ one real run


@pytest.mark.slow
def test_a_real_run_plays_conversations_and_reads_the_turn_log(built_var: Path, tmp_path: Path) -> None:
    first_ordinal = next(c for c in conv.load(DATA / "conversations_dev.jsonl") if c["kind"] == "ordinal")
    cases = [
        {"id": "probe-pass", "kind": "standalone", "turns": [
            {"say": "do you sell cookie jars?",
             "expect": {"route": "products", "cards": {"name_any": ["jar*"], "min_share": 0.5}}}]},
        {"id": "probe-fail", "kind": "refinement", "turns": [
            {"say": "do you sell cookie jars?", "expect": {"cards": {"max_price": 0.01}}}]},
        first_ordinal,
    ]
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    script = conv.ROOT / "bench" / "conversations.py"
    done = subprocess.run([sys.executable, str(script), "--cases", str(path), "--var", str(built_var),
                           "--json", "--out", str(tmp_path / "report.md")],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # the server's own log lines stay out of the report
    items = {i["conversation"]: i for i in report["items"]}
    assert set(items) == {"probe-pass", "probe-fail", first_ordinal["id"]}
    assert items["probe-pass"]["passed"], items["probe-pass"]
    assert items["probe-pass"]["reply"]["route"] == "products"  # read back from the turn log
    assert not items["probe-fail"]["passed"] and not items["probe-fail"]["setup_failed"]
    assert "over £0.01" in items["probe-fail"]["reasons"][0]
    ordinal = items[first_ordinal["id"]]
    assert ordinal["passed"] == (ordinal["reasons"] == [])
    assert ordinal["history"][0]["cards"], "the setup search showed cards the follow-up refers to"
    assert all(h["route"] for i in items.values() for h in [*i["history"], i["reply"]])
    assert report["summary"]["total"] == 3
    assert "| **all** |" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_the_concatenation_baseline_prepends_the_message_before_each_follow_up() -> None:
    conversation = {"id": "c", "kind": "ordinal", "turns": [
        {"say": "do you sell doormats?"}, {"say": "the first one?", "expect": {"route": "generate"}},
        {"say": "and the second?", "expect": {"route": "generate"}}]}
    turns = conv.concatenated([conversation])[0]["turns"]
    assert [t["say"] for t in turns] == [
        "do you sell doormats?", "do you sell doormats? the first one?", "the first one? and the second?"]
    assert turns[1]["expect"] == {"route": "generate"} and conversation["turns"][1]["say"] == "the first one?"
