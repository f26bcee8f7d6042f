"""Entities read off a message with patterns: order numbers, price ranges, references back."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache, partial

from bot.engine.interfaces import Entities
from monitoring.redact import Span, find, normalise

# The demo shop's order numbers (core/settings.py: order_number_pattern, for a shop's own).
DEFAULT_ORDER_NUMBER = r"C?\d{6}"
# A reply that is nothing but an identifier ("12345", "it's #1001", "order no. AB-1234"), read as
# the order number only when the bot has just asked for one (``asked_order_number``).
_BARE_ID = re.compile(r"^\s*(?:(?:it'?s|it is|its|my|the|order|number|no\.?|nr\.?|is|ref(?:erence)?)[\s:]*)*"
                      r"#?\s*([a-z0-9][a-z0-9-]{2,31})\s*[.!]?\s*$", re.IGNORECASE)
# "nothing over £3", "no more than £5": a ceiling, though the words say "over".
_UNDER = re.compile(r"(?:(?:nothing|not|no) (?:over|above|more than|higher than|dearer than)|under|below"
                    r"|less than|cheaper than|up to|max(?:imum)?|<)\s*£?\s*(\d+(?:\.\d+)?)")
_OVER = re.compile(r"(?<!nothing )(?<!not )(?<!no )(?:over|above|more than|at least|from|>)\s*£?\s*"
                   r"(\d+(?:\.\d+)?)")
_AROUND = re.compile(r"(?:around|about|roughly|approximately|approx\.?|circa|~)\s*£\s*(\d+(?:\.\d+)?)")
_BETWEEN = re.compile(r"between\s*£?\s*(\d+(?:\.\d+)?)\s*(?:and|-|to)\s*£?\s*(\d+(?:\.\d+)?)")
_ANAPHORA = re.compile(r"\b(that one|this one|like (?:that|this|it|those|these)|similar|same kind)\b")
_PAYLOAD = re.compile(r"^/([a-z_]+)\s*$")
_LEAD_IN = re.compile(
    r"^(?:hi|hello|hey)?[\s,]*(?:do you (?:sell|have|stock|do)|have you got|are there( any)?|"
    r"i'?m looking for|i am looking for|i'?m after|i am after|i want|i need|show me|can i (?:get|buy)|any)"
    r"\s+(?:(?:a|an|some) )?",
)


# What a present's recipient is into: "he's london mad", "she loves butterflies", "collects owls".
_INTEREST = re.compile(
    r"\b(?:loves?|likes?|collects?|adores?|is into|'s into|are into|obsessed with|(?:a )?fan of"
    r"|mad about|crazy about|keen on)\s+([a-z][a-z' -]*?)(?=[,.!?;]|$| and | so | but | what | any | for )"
    r"|\b([a-z]{3,}) (?:mad|crazy|obsessed)\b(?! with| about)")
_FOR_SOMEONE = re.compile(r"\b(?:gifts?|presents?|pressie|birthday|for my|for her|for him|he|she|he's|she's"
                          r"|they're|my [a-z]+ (?:loves?|likes?|collects?|is|'s))\b")


# "she loves it", "he likes the red one", "she adores everything": no interest named.
_NOT_AN_INTEREST = frozenset(("it", "its", "it's", "that", "this", "them", "those", "these", "the", "a", "an",
                              "everything", "anything", "all", "one", "ones", "you", "me", "him", "her",
                              "us", "my", "your", "his", "their", "shopping", "presents", "gifts"))


_CHILD = re.compile(r"\b(?:son|daughter|grandson|granddaughter|grandchild|niece|nephew|kids?|child|children"
                    r"|boy|girl|baby|toddler|(?:[1-9]|1[0-2]) ?(?:year|yr)s? ?old)\b")


# A present is wanted: "gift ideas", "a birthday present", "stocking fillers" (not "gift wrap",
# "gift cards" or "gift bags", which are things the shop sells or does).
_PRESENT = re.compile(r"\b(?:gifts?|presents?|pressies?|stocking fillers?|secret santa)\b"
                      r"(?! (?:wrap|wrapping|cards?|vouchers?|bags?|box|boxes|tags?|tape|messages?|receipts?"
                      r"|sets?|certificates?|sacks?|tins?|jars?))")
# Who a present is for, with what describes them ("for my 8 year old niece", "my sister's", "for a
# teacher"): not what the present is, so not searched for.
_RECIPIENTS = (
    "mum|mom|mummy|mother|mam|dad|daddy|father|parents?|sister|brother|siblings?|son|daughter|wife|husband"
    "|partner|boyfriend|girlfriend|bf|gf|fianc[eé]e?|friends?|bestie|mate|teacher|teachers|boss|colleagues?"
    "|co-?workers?|neighbours?|neighbors?|nan|nana|nanna|gran|granny|grandma|grandmother|grandad|granddad"
    "|grandpa|grandfather|grandparents?|grandson|granddaughter|grandchild(?:ren)?|niece|nephew|aunt|auntie"
    "|aunty|uncle|cousin|in-laws?|mother-in-law|father-in-law|godson|goddaughter|godchild|kids?|child"
    "|children|baby|toddler|boy|girl|man|woman|lady|men|women|family|host|hostess|someone|somebody|him|her"
    "|them|team|staff|client|clients|customer|customers")
_RECIPIENT = re.compile(
    rf"\b(?:for |to )?(?:(?:my|a|an|the|our|his|her|your|their) )?(?:(?:little|new|best|big|older|younger"
    rf"|old|dear|lovely|elderly|\d+ ?(?:year|yr)s? ?old|(?:one|two|three|four|five|six|seven|eight|nine|ten"
    rf"|eleven|twelve) ?(?:year|yr)s? ?old) )*(?:{_RECIPIENTS})(?:'s|s')?(?= |$|[,.!?])")
_PRESENT_WORDS = re.compile(r"\b(?:gifts?|presents?|pressies?|stocking fillers?|secret santa|ideas?"
                            r"|suggestions?|birthday|bday|b-day|something|anything|nice|special)\b")
# "The cheapest candle you have", "your most expensive clock": ordered by price.
_CHEAPEST = re.compile(r"\b(?:cheapest|lowest[- ]priced?|least expensive|most affordable|lowest price)\b")
_DEAREST = re.compile(r"\b(?:most expensive|priciest|dearest|highest[- ]priced?|most pricey|highest price)\b")


def wants_present(low: str) -> bool:
    """Whether a lower-cased message asks for a present ("gift ideas for my boss")."""
    return bool(_PRESENT.search(low))


def present_words(words: str) -> str:
    """What a present search asks for once its recipient, occasion and gift words are gone ("a
    christmas present for my teacher": christmas; "a birthday present for my mum": nothing)."""
    words = _RECIPIENT.sub(" ", words.lower())
    return " ".join(_PRESENT_WORDS.sub(" ", words).split())


def price_order(low: str) -> str | None:
    """"ascending" for the cheapest of a kind, "descending" for the dearest, else None."""
    if _CHEAPEST.search(low):
        return "ascending"
    return "descending" if _DEAREST.search(low) else None


def for_child(low: str) -> bool:
    """Whether a lower-cased message is about a child ("my 8 year old niece", "for the kids")."""
    return bool(_CHILD.search(low))


def interest_of(low: str) -> str | None:
    """What the recipient of a present is into, in a lower-cased message ("my husband is london
    mad": london; "she loves gardening": gardening), or None."""
    interest = _INTEREST.search(low) if _FOR_SOMEONE.search(low) else None
    if interest is None:
        return None
    words = (interest.group(1) or interest.group(2)).split()
    words = words[1:] if words[:1] == ["to"] else words  # "he loves to cook": cook
    return " ".join(words) if words and words[0] not in _NOT_AN_INTEREST else None


def order_number_rule(pattern: str = DEFAULT_ORDER_NUMBER) -> re.Pattern[str]:
    """The shop's order-number ``pattern`` as found inside a message: not part of a longer number,
    a price or a decimal."""
    return re.compile(rf"(?<![\d£$.])({pattern})(?![\d.])", re.IGNORECASE)


_ORDER = order_number_rule()


@lru_cache(maxsize=8)
def reader(pattern: str = DEFAULT_ORDER_NUMBER) -> Callable[[str], Entities]:
    """``extract`` for a shop whose order numbers look like ``pattern`` (built once per pattern:
    Rasa's parse endpoint asks for it on every request)."""
    if pattern == DEFAULT_ORDER_NUMBER:
        return extract
    return partial(extract, order_rule=order_number_rule(pattern))


def asked_order_number(found: Entities, text: str) -> Entities:
    """The entities of a reply to "what is your order number?": a bare identifier with at least
    three digits is the number, whatever the shop's pattern (the order system says whether it
    exists, and tells an anonymous shopper nothing either way)."""
    if found.order_number is not None:
        return found
    clean = normalise(text)
    bare = _BARE_ID.match(clean)
    if bare is None or sum(c.isdigit() for c in bare.group(1)) < 3:
        return found
    # A phone number, card or the like is personal data, never kept as an order number.
    if any(span.start < bare.end(1) and bare.start(1) < span.end for span in find(clean)):
        return found
    return replace(found, order_number=bare.group(1).upper())


def extract(text: str, order_rule: re.Pattern[str] = _ORDER) -> Entities:
    """Read entities from a message (order numbers as ``order_rule`` finds them)."""
    low = text.lower()
    payload = _PAYLOAD.match(low.strip())
    plain = " ".join(low.replace("’", "'").split())
    quantity = quantity_of(plain)
    lo, hi = _price_range(low)
    clean = normalise(text)
    spans = find(clean)
    phones = [(s.start, s.end) for s in spans if s.kind == "PHONE"]
    # Six digits inside a phone number ("my mobile 07700 900123") are not an order number.
    order = next((m for m in order_rule.finditer(clean)
                  if not any(a <= m.start(1) < b for a, b in phones)), None)
    return Entities(
        order_number=order.group(1).upper() if order else None,
        min_price=lo,
        max_price=hi,
        refers_back=bool(_ANAPHORA.search(low)),
        payload_intent=payload.group(1) if payload else None,
        email=_first(clean, spans, "EMAIL"),
        postcode=_first(clean, spans, "POSTCODE"),
        # "I'll take 2 of the first one": how much they would come to.
        product_aspect=product_aspect(low) or ("price" if quantity else None),
        interest=interest_of(plain),
        quantity=quantity,
        child=for_child(low),
    )


# Whether a product can be bought now, or when it will be. "is it available" asks about stock;
# "is it available in blue" about a variant (bot/engine/context.py reads that one first).
_STOCK = (r"\b(?:(?:in|out of|back in) stock|stock (?:level|left)s?|sold out|restock(?:ed|ing)?"
          r"|(?:un)?availab(?:le|ility)"
          r"|when will (?:it|they|this|that|this one|that one|the [a-z ]+?) be back"
          r"|(?:be|come|coming) back in|(?:any|how many) (?:are |of them )?left|pre-?order|back-?order)\b")
# Putting a product in the basket, or asking how to buy it ("i'll take two" is its price).
_BASKET = (r"\b(?:(?:add|put|pop)\b[a-z0-9' ]{0,30}? (?:to|in|into) (?:my|the|your|our) "
           r"(?:basket|cart|trolley|shopping bag|bag)\b|add (?:it |them )?to (?:basket|cart|bag)"
           r"|(?:how|where) (?:do|can|could) i (?:buy|order|purchase) (?:it|this|that|one|them|these|those)"
           r"|i(?:'ll| will|'d like to| would like to| want to) (?:buy|purchase) (?:it|this|that)"
           r"|(?:buy|purchase) (?:it|this|that)(?: one)? (?:now|online))\b")
# Checked in order: the first aspect whose words the question holds. Questions the facts
# cannot answer (dishwasher safe, dimensions, ...) match none and get an honest "don't know".
_ASPECTS = tuple((name, re.compile(pattern)) for name, pattern in (
    # "add it to my basket", "how do I buy this one?": the chat cannot fill a basket; where to.
    ("basket", _BASKET),
    ("bought_with", r"\b(?:go(?:es)? (?:[a-z]+ )?with|bought with|buy with|pairs? with|match(?:es)? with)\b"),
    ("shipping",
     r"\b(?:ship(?:ped|s|ping)?|send|sent|deliver(?:ed|y)?|post(?:ed)?|countr(?:y|ies)|abroad)\b"),
    # Before "pack": "how many are left in stock?" asks about stock, not the pack.
    ("stock", _STOCK),
    ("pack", r"\b(?:how many (?:are |come )?in|pack|packs|set of|one at a time|singly|pieces|per box)\b"),
    ("price", r"\b(?:how much|price|cost|costs|cheap|expensive|£)"),
    ("popularity",
     r"\b(?:popular|best ?sell(?:er|ing)|sell(?:s)? well|lots of people|many people|bestseller)\b"),
    ("colour", r"\b(?:colou?rs?)\b"),
    ("material", r"\b(?:made (?:of|from|out of)|materials?)\b"),
    # "the regency cakestand looks lovely": what we know of it, not "our details don't answer that".
    ("overview", r"^(?:tell me about|what is|what's|describe)\b|\blooks? (?:really |so |very )?"
                 r"(?:lovely|nice|great|good|cute|pretty|beautiful|gorgeous|perfect|amazing|fab|fabulous)\b"),
))


def product_aspect(low: str) -> str | None:
    """The product fact a lower-cased question asks about, or None."""
    # "pack of 12", "set/3" inside a product's name do not ask about pack sizes.
    low = _NAMED_COUNT.sub(" ", low)
    aspect = next((name for name, rule in _ASPECTS if rule.search(low)), None)
    # "is my order available to collect?", "is Pay in 3 available?": not a product's stock.
    if aspect == "stock" and _NOT_STOCK.search(low):
        return None
    return aspect


_NOT_STOCK = re.compile(r"\b(?:my order|my parcel|my package|order number|tracking|pay(?:ment|pal)?|klarna"
                        r"|gift wrap(?:ping)?|gift card|voucher|discount|collect(?:ion)?|click and collect"
                        r"|express|next day|refund|return)\b")


_NAMED_COUNT = re.compile(r"\b(?:pack|set|box|bag)\s*(?:of\s*)?/?\s*\d+\b")


def _first(text: str, spans: list[Span], kind: str) -> str | None:
    return next((text[s.start:s.end] for s in spans if s.kind == kind), None)


# Money in words: "under a tenner", "less than a fiver", "5 quid", "four pounds".
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "hundred": 100,
}
_MONEY_WORDS = (
    (re.compile(r"\ba (?:pound|quid)\b"), "£1"), (re.compile(r"\ba fiver\b"), "£5"),
    (re.compile(r"\ba tenner\b"), "£10"),
    *((re.compile(rf"\b{word} ?(?:quid|pounds?)\b"), f"£{amount}") for word, amount in _NUMBER_WORDS.items()),
    (re.compile(r"\b(\d+(?:\.\d+)?) ?(?:quid|pounds?)\b"), r"£\1"),
)

# How many the shopper would buy: "I'll take 3", "how much for four?", "6 of them", "x10" (not
# "number 3", "£3", "for 3 days" or the "3" of "pack of 3").
_COUNT = rf"(\d{{1,3}}|a dozen|{'|'.join(_NUMBER_WORDS)})"
_QUANTITY = (
    re.compile(rf"\b(?:take|buy|get|order|want|need|have|like)\s+{_COUNT}\b(?![.,]\d|\s*(?:%|st\b|nd\b|rd\b|th\b))"),
    re.compile(rf"\bfor\s+{_COUNT}\b(?![.,]\d)(?!\s*(?:%|st\b|nd\b|rd\b|th\b|years?|yrs?|days?|weeks?|months?"
               rf"|hours?|mins?|minutes?|people|persons?|guests?|kids|children|year|pounds?|quid|p\b))"),
    re.compile(rf"\b{_COUNT}\s+(?:of (?:them|these|those|it|each|the)|x\b|pieces|units|items|lots)"),
    re.compile(r"\bx\s?(\d{1,3})\b"),
)


# The words of "ok I'll take two" that only say how many would be bought: with a quantity read,
# they ask nothing else (bot/engine/context.py).
BUYING_WORDS = frozenset(("take", "buy", "get", "order", "ll", "d", "will", "gonna", "dozen", "them", "those",
                          "these", "please", *_NUMBER_WORDS))


def quantity_of(low: str) -> int | None:
    """How many of a product a lower-cased message would buy (2 to 999), or None."""
    for rule in _QUANTITY:
        found = rule.search(low)
        if found:
            word = found.group(1)
            count = int(word) if word.isdigit() else _NUMBER_WORDS.get(word, 12)  # else "a dozen"
            return count if 2 <= count <= 999 else None
    return None


def _money(low: str) -> str:
    for words, amount in _MONEY_WORDS:
        low = words.sub(amount, low)
    return low


def _price_range(low: str) -> tuple[float | None, float | None]:
    low = _money(low)
    around = _AROUND.search(low)
    if around:
        # "around £5": within a fifth either side.
        amount = float(around.group(1))
        return round(amount * 0.8, 2), round(amount * 1.2, 2)
    between = _BETWEEN.search(low)
    if between:
        a, b = sorted((float(between.group(1)), float(between.group(2))))
        return a, b
    under, over = _UNDER.search(low), _OVER.search(low)
    if under is None and over is None:
        return None, None
    # Only a price when a currency sign or word is near: "over 3 days" is not a price.
    if "£" not in low and "pound" not in low and "gbp" not in low:
        return None, None
    return (float(over.group(1)) if over else None, float(under.group(1)) if under else None)


def product_query(text: str) -> str:
    """The part of a product question worth embedding: lead-ins and price phrases removed."""
    low = _money(text.lower().strip().rstrip("?!. "))
    low = _AROUND.sub(" ", low)
    low = _BETWEEN.sub(" ", low)
    low = _UNDER.sub(" ", low)
    low = _OVER.sub(" ", low)
    low = _LEAD_IN.sub("", low)
    return re.sub(r"\s+", " ", low).strip() or text
