"""Reading a message in its conversation: what it refers to, and what it leaves out.

Before a message is routed, it is read against the conversation's dialogue state
(:class:`~bot.engine.interfaces.Slots`): the cards shown last, the product in focus, the last
search with its constraints, the last FAQ topic. Rules over the lower-cased message find the
follow-up acts a shopper uses (docs/quality.md, "Conversations", has the measurements and why
rules): ordinals ("the first one", "that first clock"), pronouns ("it", "that one"),
refinements of the last search ("only red ones", "under £5", "cheaper", "not the vintage ones"),
corrections ("no, I meant blue"), comparisons ("which is cheaper?"), "show me more", "more like
the third one", and ellipsis after an FAQ answer ("and to the USA?", "how long does it take?").
A message that leans on none of these stands alone and is routed as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from bot.engine.compare import SUPERLATIVE
from bot.engine.interfaces import Entities, Reading, Search, Slots
from bot.engine.nlu import (
    BUYING_WORDS,
    for_child,
    interest_of,
    present_words,
    price_order,
    product_query,
    wants_present,
)
from bot.engine.policy import BASKET
from core.shop import Product
from core.turns import RouterOutput
from core.variants import asked_colours, asked_size, pick
from retrieval.knowledge import KnowledgeEntry
from retrieval.product_facts import COLOURS, MATERIALS

_ORDINALS = {
    "first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
    "fifth": 4, "5th": 4, "sixth": 5, "6th": 5, "seventh": 6, "7th": 6, "eighth": 7, "8th": 7,
    "ninth": 8, "9th": 8, "tenth": 9, "10th": 9, "last": -1, "final": -1,
}
_ORDINAL_WORD = "|".join(_ORDINALS)
# "the first one", "that 2nd clock", "the last", "number 3", "#2", "option 2" (not "wait a
# second", "one second").
_ORDINAL_AT = rf"(?<!\ba )(?<!\bone )\b({_ORDINAL_WORD})\b"
_ORDINAL = re.compile(rf"{_ORDINAL_AT}(?:\s+([a-z]+))?")
# The whole reference, to write the product's name in its place: "the third one", "that 2nd clock".
_THE_ORDINAL = re.compile(rf"(?:\b(?:the|that|this) )?{_ORDINAL_AT}(?: one\b)?")
_NUMBERED = re.compile(r"(?:\bnumber|\bno\.?|#|\boption|\bitem)\s*([1-9]|10)\b")
# "the first two", "the first 3": the first N shown.
_FIRST_N = re.compile(r"\b(?:first|top)\s+(two|three|2|3)\b")
_COUNTS = {"two": 2, "three": 3, "2": 2, "3": 3}
# "the third one" when two were shown: an ordinal past the cards (not "give me a second").
_PAST = re.compile(rf"\bthe ({_ORDINAL_WORD})\b|\b({_ORDINAL_WORD}) one\b")
_MORE = re.compile(
    r"^(?:and |ok |okay |please )?"
    r"(?:(?:can you |could you |please )?show (?:me )?(?:some |a few |a couple )?more"
    r"|(?:can|could|may) i (?:see|have a look at|look at) (?:some |a few )?more"
    r"|(?:let me )?see (?:some |a few )?more|(?:some|a few|a couple) more"
    r"|(?:got |have you got |do you have )?any (?:others?|more)"
    r"|more(?: please| of (?:those|them|these))?|any(?:thing)? else"
    r"|what else(?: do you have| have you got)?|(?:the )?(?:next|other) (?:ones|options|page|few|lot)"
    r"|more options|any more|anymore)\b")
# "what's the first one like?" asks what it is like, not for things like it.
_WHAT_LIKE = re.compile(r"^(?:what|whats|what's|how)\b.*\blike\??$")
_SIMILAR = re.compile(r"\b(?:more like|simil+i?ar|something like|anything like|others? like|ones? like"
                      r"|things like|(?<!\bi )(?<!i'd )(?<!\bwe )(?<!\bi really )"
                      r"like (?:the|that|this|it))\b")
_COMPARE = re.compile(
    r"\b(?:which (?:one |of (?:them|those|these|the two) )?(?:is|are|was) (?:the )?(?:cheap|cheaper|cheapest"
    r"|expensive|more expensive|most expensive|bigger|biggest|better|best|popular|more popular|most popular)"
    r"|difference between|differences between|compare|comparison|cheaper one|cheapest one"
    r"|which is cheaper|which one is cheaper|what's the difference|what is the difference"
    r"|which (?:one |of (?:them|those|these) )?(?:costs?|is) (?:the )?(?:less|least|more|most)\b"
    r"|(?:most expensive|least expensive|cheapest|priciest|dearest) (?:of|one of)"
    r" (?:those|them|these|the lot))\b")
# Messages made only of these are social ("ok thanks", "great, bye", "yes please") and stand alone.
_SOCIAL = frozenset((
    "ok", "okay", "k", "thanks", "thank", "thx", "ty", "ta", "you", "cheers", "great", "perfect", "lovely",
    "brilliant", "cool", "nice", "awesome", "fab", "wonderful", "good", "fine", "got", "it", "bye",
    "goodbye", "see", "ya", "later", "hi", "hello", "hey", "yes", "yeah", "yep", "yup", "no", "nope",
    "so", "much", "very", "a", "lot", "that's", "thats", "all", "helps", "helpful", "please", "then",
    "for", "the", "help", "info", "oh", "ah", "right", "alright", "sure", "noted", "understood",
    "that", "was", "is", "really", "super", "appreciated", "appreciate", "excellent", "amazing",
))
# Words of a product's name that say nothing of what it is ("Set of 3 ...", "... in Box").
_FILLER = frozenset(("a", "an", "the", "and", "of", "in", "with", "for", "set", "pack", "box", "assorted"))
_CORRECTION_WORDS = frozenset(("sorry", "meant", "mean", "said", "actually", "oops", "nope", "wanted"))
_CORRECTION = re.compile(r"^(?:no|nope|sorry|actually|oops|not that)\b|\bi (?:meant|mean|said)\b")
# "no polkadot ones please", "no glass": leaving something out, not correcting what was said.
_EXCLUDING = re.compile(r"^no (?!i\b|sorry\b|not\b|the\b|that\b|this\b|it\b|i'm\b)[a-z]+"
                        r"(?: ones?)?(?: please| thanks)?[?!.]*$")
_PRONOUN = re.compile(r"\b(?:it|its|it's|that one|this one|that|this|them|they|those|these|the one)\b")
_PRO_ONE = re.compile(r"\b(?:one|ones|any|anything|something|some)\b")
_ONES = re.compile(r"(?<!this )(?<!that )(?<!the )\bones?\b")
_HOW_MANY = re.compile(r"\bhow many\b")
_ONLY = re.compile(r"\b(?:only|just)\b|^(?:no|nope|not those|actually)\b")
# "and the green one?", "what about the black skull one?": another version of the product.
# "and the elixir?" after the tonic bottle: the product of the same name that says "elixir".
_AND_THE = re.compile(r"^(?:and|what about|how about) the ([a-z]+(?: [a-z]+)?)[?!. ]*$")
_THE_X_ONE = re.compile(r"\bthe ((?:[a-z]+ ){0,2}[a-z]+) (?:one|version|variant|style)\b")
# A question about a card that no fact word names: "the third one, is it dishwasher safe?", "does
# the second one need batteries?", "how big is the first one?" (not "the third one looks nice").
_FACT_QUESTION = re.compile(r"(?:^|[,;.!] ?)(?:is|are|does|do|can|will|would|could|has|have|should)\b"
                            r"|\bhow (?:big|tall|wide|long|heavy|high|deep|large|small|strong|thick)\b"
                            r"|\bwhat size\b|\bdimensions?\b")
# "What about my other order?" once an order was looked up: another one, whose number is asked for.
_ANOTHER_ORDER = re.compile(r"\b(?:other|another|second|different|next|new|first|previous|earlier|older)"
                            r"\s+(?:order|parcel|package)\b")
# Words that only say which fact is asked about.
_ASPECT_WORDS = frozenset((
    "cost", "costs", "many", "pieces", "piece", "pack", "packs", "packet", "set", "come", "comes", "ship",
    "shipping", "deliver", "delivery", "post", "popular", "sell", "goes", "go", "match", "bought", "colour",
    "colours", "material", "materials", "tell", "describe", "info", "details", "worth", "out",
    "add", "put", "pop", "basket", "cart", "trolley", "buy", "purchase", "now", "online",
))
# One product meant: "it", "this one". ("them", "those" mean what was shown.)
_IT = re.compile(r"\b(?:it|its|it's|this one|that one|this|that)\b")
# "do you have it in blue?": the same thing in another colour, a search.
_VARIANT = re.compile(r"\b(?:have|get|got|do|does|sell|is there) (?:it|this|that)(?: one)? in\b|\bcome in\b"
                      r"|\b(?:it|this|that)(?: one)? in (?:a |an )?(?:different|other|another)\b")
# The aspect of a question about a product's variants (answered by core.variants).
VARIANT = "variant"
# "what colours does it come in?", "which sizes?", "any other colours?": what the group comes in.
_LIST_OPTIONS = re.compile(r"\b(?:colou?rs?|sizes?|other (?:versions?|options|styles)|variants?)\b")
# Words a question about a variant may use besides the variant's own ("is it available in large?").
_VARIANT_WORDS = frozenset((
    "come", "comes", "coming", "available", "availability", "stock", "left", "back", "when", "will",
    "sold", "order", "pre", "preorder", "colour", "colours", "color", "colors", "size", "sizes", "which",
    "what", "version", "versions", "options", "variant", "variants", "style", "styles", "offer",
    "offered", "sell", "still", "currently", "right", "now", "yet", "soon", "expected", "restock",
    "restocked", "instead", "else", "much", "cost", "price", "how", "many", "long", "is", "are",
))
_CHEAPER = re.compile(r"\b(?:cheaper|less expensive|lower price|budget|cheapest)\b")
_DEARER = re.compile(r"\b(?:more expensive|pricier|dearer|fancier|posher)\b")
_SIZES = {
    "large": ("large", "jumbo", "big", "giant", "xl", "tall", "maxi", "extra large"),
    "small": ("small", "mini", "little", "tiny", "miniature"),
}
_SIZE_WORDS = frozenset(w for words in _SIZES.values() for w in words if " " not in w)
_BIGGER = re.compile(r"\b(?:bigger|larger|big|large|jumbo|giant|huge)\b")
_SMALLER = re.compile(r"\b(?:smaller|small|mini|little|tiny)\b")
_WITHOUT = re.compile(r"\b(?:not (?:the |any )?|no |nothing |without |except (?:the )?|but not (?:the )?)"
                      r"(?!over\b|above\b|more\b|under\b|below\b|less\b)([a-z]+)\b")
# "what about star shaped?", "and personalised?": a few words that finish the search before.
_ELLIPSIS_WORDS = re.compile(r"^(?:and|what about|how about|any|got any|have you got any"
                             r"|anything(?= (?!for\b|to\b|else\b|with\b)))(?: [a-z'-]+){1,3}[?!.]*$")
_WORD = re.compile(r"[a-z0-9£.]+")
_COLOUR_WORDS = {**{c: c for c in COLOURS}, "gray": "grey", "multicoloured": "multicolour",
                 "multi-coloured": "multicolour", "golden": "gold"}
# Words that say nothing about which product: shopping verbs, pro-forms, constraint words.
_GENERIC = frozenset((
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "at", "by", "from", "is",
    "are", "was", "be", "it", "its", "it's", "this", "that", "these", "those", "them", "they", "one",
    "ones", "any", "anything", "something", "some", "do", "does", "did", "you", "your", "we", "our",
    "i", "me", "my", "have", "has", "got", "get", "show", "see", "find", "give", "want", "need",
    "looking", "look", "like", "would", "could", "can", "please", "thanks", "thank", "maybe", "ok",
    "okay", "only", "just", "also", "other", "another", "different", "options", "option", "else",
    "instead", "more", "less", "much", "cheaper", "cheap", "cheapest", "expensive", "dearer",
    "pricier", "bigger", "biggest", "larger", "smaller", "smallest", "big", "large", "small", "mini",
    "tiny", "little", "huge", "jumbo", "giant", "price", "prices", "under", "over", "below", "above",
    "than", "up", "max", "around", "about", "what", "which", "how", "there", "here", "yes", "yeah",
    "no", "not", "but", "too", "very", "so", "then", "now", "same", "kind", "sort", "type", "colour",
    "color", "colours", "colors", "material", "made", "size", "in", "stock", "sell", "available",
    "pound", "pounds", "quid", "fiver", "tenner", "gbp", "cost", "costs", "less", "least",
    "version", "versions", "ideally", "poss", "possible", "possibly", "if", "keep", "nothing",
    "preferably", "pref", "maximum", "spend", "spending", "roughly", "approx", "approximately", "ish",
    "whats", "there", "priced", "lowest", "highest", "least", "most", "priciest", "dearest", "ideal",
    "thats", "should", "would", "me", "us", "let", "lets", "her", "his", "him", "she", "he", "who",
    "pls", "plz", "mate", "few", "bit", "hmm", "hm", "um", "er", "oh", "ah", "ooh", "wait", "hang",
    "lovely", "ta",
    # What a shopper calls any product ("union jack stuff"): not a kind of thing a name must hold.
    "stuff", "things", "thing", "items", "bits", "goods", "products", "recommend", "recommendation",
    "recommendations", "suggest", "suggestion", "suggestions", "ideas", "idea",
))


def _words(low: str) -> list[str]:
    # Dots belong to prices ("£4.50"), not to the word ending a sentence ("the large one.").
    return [w.rstrip(".") for w in _WORD.findall(low) if w.rstrip(".")]


# Words shoppers and product names say differently: "for kids" finds "Children's Apron".
_CANON = {"kid": "child", "kids": "child", "children": "child", "childrens": "child", "childs": "child",
          "christmassy": "christmas", "xmas": "christmas", "festive": "christmas"}


def _canon(word: str) -> str:
    return _CANON.get(word) or _singular(word)


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("ch", "sh", "x", "ss", "zz")):  # not "purses"
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


class ContextReader:
    """Reads each message against its conversation's state (the catalogue and FAQ it needs)."""

    def __init__(self, products: Mapping[str, Product], entries: Mapping[str, KnowledgeEntry]) -> None:
        self.products = products
        self.entries = entries
        # Built on first use (a cheap __init__): each product's name words, and which products'
        # names hold each word (so no read scans the whole catalogue).
        self._listed: list[Product] = []
        self._names: list[tuple[str, ...]] | None = None
        self._holding: dict[str, set[int]] = {}
        self._names_version: str | None = None
        # Which products share each item_group_id (a feed's variants), built with the names.
        self._groups: dict[str, list[int]] = {}

    def read(self, text: str, slots: Slots, entities: Entities) -> Reading:
        """How ``text`` reads after the conversation so far (it stands alone when nothing fits)."""
        low = " ".join(text.lower().replace("’", "'").split())
        low = re.sub(r"^(?:n|an|&)\b(?= )", "and", low)  # "n the pink version?"
        if slots.turns == 0 or entities.payload_intent or entities.order_number:
            return Reading.alone(text)
        if set(_words(low)) <= _SOCIAL:
            return Reading.alone(text)  # "ok thanks", "bye": said to the bot, not about the topic
        shown = [self.products[c] for c in slots.shown_products if c in self.products]
        focus = self.products.get(slots.last_product or "")
        # In this order: "more like the third one" is a similar, not a "more"; a comparison names
        # ordinals too; a correction names a colour as a refinement does.
        for rule in (self._another_order, self._similar, self._more, self._compare, self._correction,
                     self._group, self._ordinal, self._other_one, self._refine, self._pronoun, self._faq):
            reading = rule(text, low, slots, entities, shown, focus)
            if reading is not None:
                return reading
        return Reading.alone(text)

    # ------------------------------------------------------------------ the acts

    def _another_order(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                       focus: Product | None) -> Reading | None:
        if slots.order_number is None or not _ANOTHER_ORDER.search(low):
            return None
        return Reading("where is my order?", resolved="where is my other order?", act="another_order")

    def _more(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
              focus: Product | None) -> Reading | None:
        search = slots.search
        if search is None or slots.topic != "products" or not _MORE.search(low.strip("?!. ")):
            return None
        return Reading(search.query(), resolved=f"more {_described(search)}", act="more", search=search)

    def _compare(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                 focus: Product | None) -> Reading | None:
        named = self._ordinals(low, shown)
        # "is the first or the second one more expensive?": two named and a comparison asked.
        two_named = len(named) >= 2 and bool(_CHEAPER.search(low) or _DEARER.search(low))
        # "which one's the priciest?" over the cards shown (not "your cheapest candles": a search).
        of_shown = slots.topic == "products" and bool(SUPERLATIVE.search(low)) and \
            not self._own_words(SUPERLATIVE.sub(" ", low))
        if not (_COMPARE.search(low) or two_named or of_shown) or len(shown) + (focus is not None) < 2:
            return None
        # "Which is cheaper?" right after "compare the first two": those two.
        compared = [self.products[c] for c in slots.compared if c in self.products]
        picked = named or (compared if len(compared) >= 2 else []) or shown or ([focus] if focus else [])
        if len(picked) < 2:
            picked = _unique([*picked, *shown])
        if len(picked) < 2:
            return None
        names = ", ".join(f"the {p.name}" for p in picked)
        return Reading(f"compare {names}", resolved=f"compare {names}",
                       refers_to=tuple(p.stock_code for p in picked), act="compare")

    def _similar(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                 focus: Product | None) -> Reading | None:
        if not _SIMILAR.search(low) or _WHAT_LIKE.search(low):
            return None
        picked = self._ordinals(low, shown)
        refers_to_focus = _PRONOUN.search(low) or not self._own_words(low)
        target = picked[0] if picked else (focus if refers_to_focus else None)
        if target is None:
            return None
        # Things like it: the catalogue searched with its name, the same kind first, itself left out.
        search = Search(target.name.lower(), seen=(target.stock_code,))
        return Reading(f"more like the {target.name}", resolved=f"more like the {target.name}",
                       refers_to=(target.stock_code,), act="similar", search=search)

    def _correction(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                    focus: Product | None) -> Reading | None:
        if not _CORRECTION.search(low) or self._excluding(low, slots.search):
            return None
        colour, material = _colour(low), _material(low)
        if colour is None and material is None:
            meant = [w for w in self._own_words(low) if w not in _CORRECTION_WORDS]
            sizes = [w for w in _words(low) if w in _SIZE_WORDS]
            if not (meant or sizes) or slots.topic not in ("products", "product"):
                return None
            one = slots.topic == "product" or bool(_THE_X_ONE.search(low))
            if focus is not None and one:
                # "sorry, the mint one" after the pink clock: the same question about the mint clock;
                # "I meant the large one" after the small jug: the large jug.
                target = self._variant(focus, meant or sizes, shown)
                if target is not None and target.stock_code != focus.stock_code:
                    aspect = slots.aspect if slots.topic == "product" and slots.aspect else "overview"
                    return Reading(_question(aspect, target), resolved=_question(aspect, target),
                                   refers_to=(target.stock_code,), act="correct", aspect=aspect)
            if not meant:
                return None
            # "sorry, I meant alarm clocks": the search again, for what was meant.
            base = slots.search or Search("")
            head = self._head(base.words).split()[-1:] if base.words else []
            together = self._named_together([*meant, *head]) if head else 0
            if head and _canon(head[0]) not in map(_canon, meant) and together >= max(
                    2, 0.05 * self._named_together(meant)):
                # "no wait, dolly girl" after spaceboy pencils: dolly girl pencils, a range the shop
                # has; "meant bowls" after pink plates: bowls (one "bowl plate" is not a range).
                meant = [*meant, *head]
            # "pink plates" → "oops, meant bowls": pink bowls (what was not corrected stays).
            search = Search(" ".join(meant), colour=base.colour or _colour(base.words),
                            material=base.material or _material(base.words), min_price=base.min_price,
                            max_price=base.max_price, prefer=base.prefer, order=base.order,
                            present=base.present)
            return Reading(search.query(), resolved=_described(search), act="correct", search=search)
        if slots.topic == "product" and (shown or focus):
            # The question before was about a product: the same question about the one meant.
            candidates = shown or ([focus] if focus else [])
            kind = _kind_of(focus) if focus else None
            matching = [p for p in candidates if _has(p, colour, material)]
            same_kind = [p for p in matching if kind and kind in p.name.lower()]
            wanted = [w for w in (colour, material) if w]
            # One of those shown, else that product's version in the colour meant.
            picked = same_kind or matching
            target = picked[0] if picked else self._variant(focus, wanted, shown) if focus else None
            if target is not None:
                aspect = slots.aspect or "overview"
                return Reading(_question(aspect, target), resolved=_question(aspect, target),
                               refers_to=(target.stock_code,), act="correct", aspect=aspect)
        if slots.search is not None:
            # "pink bags" → "no, blue": blue bags (not "blue pink bags"); a material not corrected stays.
            base = slots.search
            colour, material = _look_kept(base, colour, material)
            search = replace(base, words=without_look(base.words), colour=colour, material=material, seen=())
            return Reading(search.query(), resolved=_described(search), act="correct", search=search)
        return None

    def _group(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
               focus: Product | None) -> Reading | None:
        """About the variants of the product in focus, when the catalogue groups it with others (a
        feed's item_group_id): "does it come in blue?", "which sizes?", "is the large one in
        stock?". A catalogue without groups (the demo shop's) never reads a message this way."""
        if focus is None or slots.topic not in ("products", "product"):
            return None
        group = self._group_of(focus)
        if len(group) < 2:
            return None
        colours, size = asked_colours(low, group), asked_size(low, group)
        aspect = entities.product_aspect
        # Only the variant and the question may be said: "show me red mugs" is a new search.
        said = {w for p in group for w in _words(p.name.lower())} | set(colours) | _VARIANT_WORDS
        if size:
            said |= set(_words(size))
        if [w for w in self._own_words(low) if w not in said and w not in _ASPECT_WORDS]:
            return None
        if colours or size:
            if aspect is None and (_THE_X_ONE.search(low) or _AND_THE.search(low)) and \
                    slots.topic == "product" and slots.aspect not in (None, VARIANT, "colour"):
                aspect = slots.aspect  # "and the red one?" after its price: the red one's price
            target = next(iter(pick(group, focus, colours, size)), None)
            if target is not None and aspect not in (None, "colour"):
                # "is the large one in stock?", "how much is the red one?": asked of that variant.
                return Reading(_question(aspect, target), resolved=_question(aspect, target),
                               refers_to=(target.stock_code,), act="variant", aspect=aspect)
            asked = " ".join([*colours, *([f"size {size}"] if size else [])])
            question = f"does the {focus.name} come in {asked}?"
        elif _LIST_OPTIONS.search(low) or aspect == "colour":
            question = f"what colours and sizes does the {focus.name} come in?"
        else:
            return None
        return Reading(question, resolved=question, refers_to=(focus.stock_code,), act="variant",
                       aspect=VARIANT)

    def _ordinal(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                 focus: Product | None) -> Reading | None:
        picked = self._ordinals(low, shown)
        if not picked:
            if shown and _past(low, shown):
                # "how much is the second one?" when one card was shown: not that card's price.
                return Reading(text, resolved=f"which of the {len(shown)} shown",
                               refers_to=tuple(p.stock_code for p in shown), act="past")
            return None
        target = picked[0]
        aspect = entities.product_aspect
        if aspect is None and _FACT_QUESTION.search(low):
            # "the third one, is it dishwasher safe?": a question the facts may not answer, about
            # that card; the router reads the message and decides, the product named for it.
            standalone = _THE_ORDINAL.sub(f"the {target.name}", low, count=1)
            return Reading(text, resolved=standalone, refers_to=(target.stock_code,), act="ordinal")
        if aspect is None and slots.topic == "product" and slots.aspect not in (None, VARIANT) and \
                not self._own_words(low):
            aspect = slots.aspect  # "and the first one?" after "how much is the second?": its price
        aspect = aspect or "overview"
        return Reading(_question(aspect, target), resolved=_question(aspect, target),
                       refers_to=(target.stock_code,), act="ordinal", aspect=aspect)

    def _other_one(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                   focus: Product | None) -> Reading | None:
        """"And the green one?" after a product: the same question about its green version."""
        match = _THE_X_ONE.search(low) or _AND_THE.search(low)
        if match is None or focus is None or slots.topic not in ("products", "product"):
            return None
        wanted = [w for w in _words(match.group(1)) if w not in _GENERIC or w in _SIZE_WORDS]
        target = self._variant(focus, wanted, shown)
        if target is None or target.stock_code == focus.stock_code:
            return None
        aspect = entities.product_aspect or slots.aspect or "overview"
        return Reading(_question(aspect, target), resolved=_question(aspect, target),
                       refers_to=(target.stock_code,), act="variant", aspect=aspect)

    def _refine(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                focus: Product | None) -> Reading | None:
        base = slots.search
        if base is None and focus is not None and slots.topic == "product":
            base = Search(_kind_of(focus) or focus.name.lower())
        if base is None or slots.topic not in ("products", "product"):
            return None
        negated = _WITHOUT.findall(low)
        without = tuple(_singular(w) for w in negated if w not in _GENERIC)
        kept = " ".join(w for w in _words(low) if w not in negated)
        colour, material = _colour(kept), _material(kept)
        size = "large" if _BIGGER.search(low) else "small" if _SMALLER.search(low) else None
        cheaper, dearer = bool(_CHEAPER.search(low)), bool(_DEARER.search(low))
        priced = entities.min_price is not None or entities.max_price is not None
        own = [_CANON.get(w, w) for w in self._own_words(low, drop=without)]  # "christmassy" → christmas
        # "what about personalised ones?": words added to the same search.
        added = bool(own) and bool(_ONES.search(low) or _ELLIPSIS_WORDS.search(low))
        if not (colour or material or size or without or cheaper or dearer or priced or added):
            return None
        if own and not added and not _PRO_ONE.search(low) and not _PRONOUN.search(low):
            return None  # a new search that happens to name a colour or a price ("red doormats")
        if _IT.search(low) and not _ONES.search(low) and not _VARIANT.search(low) and not priced:
            return None  # "is it silver?", "how big is it?" ask about the product in focus
        if slots.search is None and focus is not None and (colour or material) and \
                not (size or without or cheaper or dearer or priced or added):
            # "do you have it in blue?" about the one product asked about (the Jumbo Bag Red
            # Retrospot): its version in blue, the product sharing most of its name (the Jumbo Bag
            # Scandinavian Blue Paisley), not a search for the last word of its name ("retrospot").
            target = self._variant(focus, [w for w in (colour, material) if w], shown, telling=True)
            if target is not None and target.stock_code != focus.stock_code:
                aspect = entities.product_aspect or slots.aspect or "overview"
                return Reading(_question(aspect, target), resolved=_question(aspect, target),
                               refers_to=(target.stock_code,), act="variant", aspect=aspect)
        prices = [p.price for p in shown] or ([focus.price] if focus else [])
        max_price = entities.max_price if entities.max_price is not None else base.max_price
        min_price = entities.min_price if entities.min_price is not None else base.min_price
        if cheaper and prices and entities.max_price is None:
            max_price = round(min(prices) - 0.01, 2)
        if dearer and prices and entities.min_price is None:
            min_price = round(max(prices) + 0.01, 2)
        words = base.words
        if colour or material:
            # "and in pink?" after blue bowls: pink bowls, not pink blue bowls; the look not changed stays.
            words = without_look(words)
            colour, material = _look_kept(base, colour, material)
        must = base.must
        if added:
            # "what about star ones?" after heart t-light holders: star holders; "only round ones"
            # and "no, easter ones" keep only those.
            words = f"{' '.join(own)} {self._head(words)}"
            if _ONLY.search(low):
                must = tuple(_unique([*must, *own]))
        search = Search(words, colour=colour or base.colour, material=material or base.material,
                        size=size or base.size, min_price=min_price, max_price=max_price,
                        without=tuple(_unique([*base.without, *without])), must=must, prefer=base.prefer,
                        order=base.order, present=base.present)
        only_words = added and not (colour or material or size or without or cheaper or dearer or priced)
        # Only new words ("personalised ones") may be a question of their own: the router may
        # still take it to an FAQ answer (the policy's "variant" rule).
        return Reading(text if only_words else search.query(), resolved=_described(search),
                       act="variant" if only_words else "refine", search=search)

    def _pronoun(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
                 focus: Product | None) -> Reading | None:
        """A question about the product in focus: "how much does it cost?", "is it silver?", "material?"."""
        if focus is None or slots.topic not in ("products", "product"):
            return None
        singular = bool(_IT.search(low))
        colour, material = _colour(low), _material(low)
        aspect = entities.product_aspect or ("pack" if _HOW_MANY.search(low) else None)
        if aspect is None and singular:
            aspect = "colour" if colour else "material" if material else None
        # Words of the product's own name ("how many cutters?") do not make it another question.
        name = {_singular(w) for w in _words(focus.name.lower())}
        own = [w for w in self._own_words(low) if _singular(w) not in name and w not in _ASPECT_WORDS]
        if aspect == BASKET and not singular and slots.topic == "products":
            return None  # "add to cart" after six cards: which one is the handler's to ask
        if entities.quantity is not None:
            # "ok great, I'll take two": the price of two.
            own = [w for w in own if w not in BUYING_WORDS and w not in _SOCIAL]
        if aspect is not None and (singular or (not own and len(_words(low)) <= 6)):
            return Reading(_question(aspect, focus), resolved=_question(aspect, focus),
                           refers_to=(focus.stock_code,), act="pronoun", aspect=aspect)
        if singular and aspect is None:
            # Something the facts may not answer ("does it need batteries?"), or not about the
            # product at all ("is it safe to pay online?"): the router reads the message itself and
            # decides; the product stays named for it (signals_of), as if the shopper had typed it.
            standalone = _IT.sub(f"the {focus.name}", low, count=1)
            return Reading(text, resolved=standalone, refers_to=(focus.stock_code,), act="pronoun")
        return None

    def _faq(self, text: str, low: str, slots: Slots, entities: Entities, shown: list[Product],
             focus: Product | None) -> Reading | None:
        """After an FAQ answer: the message read with the question before it, proposed. Whether it
        is kept is the router's to say (:func:`clear_alone`): "how long does the reset link work
        for?" needs the password question before it, "do you sell doormats?" does not."""
        entry = self.entries.get(slots.faq_topic or "")
        if slots.topic != "faq" or entry is None or not entry.questions:
            return None
        if set(_words(entry.questions[0].lower())) <= _SOCIAL:
            # After "hi" or "thanks" the floor is open: "red lanterns" is a request of its own, not
            # "hello? red lanterns" (which the router read as a second greeting).
            return None
        # The question before, then the message (CANARD's "previous question" form). Writing the
        # message first with the topic's name after it did worse on the development conversations.
        standalone = f"{entry.questions[0].rstrip('?. ')}? {text}"
        return Reading(standalone, resolved=standalone, act="faq")

    # ---------------------------------------------------------------- helpers

    def _ordinals(self, low: str, shown: Sequence[Product]) -> list[Product]:
        """The shown products an ordinal picks ("the first two": both), in the order named."""
        if not shown:
            return []
        first_n = _FIRST_N.search(low)
        if first_n:
            return list(shown[: _COUNTS[first_n.group(1)]])
        picked: list[Product] = []
        for match in _ORDINAL.finditer(low):
            index, noun = _ORDINALS[match.group(1)], match.group(2)
            pool = list(shown)
            if noun and noun not in _GENERIC and noun not in ("two", "three", "item", "product"):
                of_kind = [p for p in shown if _singular(noun) in map(_singular, _words(p.name.lower()))]
                pool = of_kind or pool
            if -len(pool) <= index < len(pool):
                picked.append(pool[index])
        for match in _NUMBERED.finditer(low):
            index = int(match.group(1)) - 1
            if index < len(shown):
                picked.append(shown[index])
        return _unique(picked)

    def _variant(self, focus: Product, wanted: Sequence[str], shown: Sequence[Product],
                 telling: bool = False) -> Product | None:
        """The product most like ``focus`` whose name holds every ``wanted`` word (shown ones first);
        ``telling``: only words that tell a kind of thing count as shared ("set", "of", "3" do not)."""
        if not wanted:
            return None
        mine = {_singular(w) for w in _words(focus.name.lower())} - set(_COLOUR_WORDS)
        if telling:
            mine = {w for w in mine if w not in _FILLER and w not in MATERIALS and not w.isdigit()}

        def overlap(product: Product) -> int:
            return len(mine & {_singular(w) for w in _words(product.name.lower())})

        def holds_all(product: Product) -> bool:
            name = _words(product.name.lower())
            return all(w in name or _singular(w) in name for w in wanted)

        self._name_words()
        indexed = [self._holding.get(_canon(w), set()) | self._holding.get(w, set()) for w in wanted]
        catalogue = [self._listed[i] for i in sorted(set.intersection(*indexed))] if indexed else []
        holds = [p for p in (*shown, *catalogue) if holds_all(p)]
        # Equally alike: one of the same category first ("bag" shared by a jumbo bag and a bag of gems).
        best = max(holds, key=lambda p: (overlap(p), p.category == focus.category), default=None)
        return best if best is not None and overlap(best) >= 1 else None

    @staticmethod
    def _excluding(low: str, search: Search | None) -> bool:
        """ "no polkadot ones" leaves something out; "no red" after green bowls means red instead."""
        if not _EXCLUDING.search(low):
            return False
        word = _words(low)[1]
        said = f"{search.words} {search.colour or ''} {search.material or ''}" if search else ""
        switched = (word in _COLOUR_WORDS and _colour(said) is not None) or \
            (word in MATERIALS and _material(said) is not None)
        return not switched

    def _named_together(self, words: Sequence[str]) -> int:
        """How many products' names hold every one of ``words``."""
        wanted = {_canon(w) for w in words}
        self._name_words()
        return len(set.intersection(*(self._holding.get(w, set()) for w in wanted))) if wanted else 0

    def _name_words(self) -> list[tuple[str, ...]]:
        """Each product name's words, canonical (built on first use, again after a catalogue sync)."""
        # A live catalogue (retrieval/catalogue/live.py) says its version; a plain mapping never changes.
        version = getattr(self.products, "version", None)
        if self._names is None or version != self._names_version:
            self._names_version = version
            self._listed = list(self.products.values())
            self._names = [tuple(_canon(w) for w in _words(p.name.lower())) for p in self._listed]
            self._holding = {}
            for i, name in enumerate(self._names):
                for word in name:
                    self._holding.setdefault(word, set()).add(i)
            self._groups = {}
            for i, product in enumerate(self._listed):
                if product.facts.get("item_group_id"):
                    self._groups.setdefault(str(product.facts["item_group_id"]), []).append(i)
        return self._names

    def _group_of(self, product: Product) -> list[Product]:
        """The product's variants, itself included (just itself when it has no group)."""
        group_id = product.facts.get("item_group_id")
        if not group_id:
            return [product]
        self._name_words()
        return [self._listed[i] for i in self._groups.get(str(group_id), [])] or [product]

    def _head(self, words: str) -> str:
        """The kind of thing a search asks for, without what describes it: "paisley notebooks" →
        "notebooks", but "heart t-light holders" → "light holders" and "wall clocks" stays, since
        the catalogue names that many of its holders and clocks with both words."""
        kept = [w for w in _words(words) if w not in _GENERIC and not w.isdigit()]
        if len(kept) < 2:
            return " ".join(kept) or words
        last, pair = _canon(kept[-1]), (_canon(kept[-2]), _canon(kept[-1]))
        names = self._name_words()
        with_last = [names[i] for i in self._holding.get(last, ())]
        with_pair = sum(1 for n in with_last if any(n[i:i + 2] == pair for i in range(len(n) - 1)))
        compound = with_pair >= 3 and with_pair >= 0.1 * len(with_last)
        return " ".join(kept[-2:] if compound else kept[-1:])

    def _own_words(self, low: str, drop: Sequence[str] = ()) -> list[str]:
        """The words of a message that name what it is about (not pro-forms or constraints)."""
        skip = set(drop) | set(_COLOUR_WORDS) | set(MATERIALS)
        return [w for w in _words(low) if w not in _GENERIC and w not in skip and not w.startswith("£")
                and not w.replace(".", "").isdigit() and w not in _ORDINALS and len(w) > 1]


def _unique(items: Sequence[object]) -> list:  # type: ignore[type-arg]
    out: list = []  # type: ignore[type-arg]
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _past(low: str, shown: Sequence[Product]) -> bool:
    """An ordinal or number names a card past the last one shown ("the third one" of two)."""
    named = [_ORDINALS[a or b] for a, b in _PAST.findall(low)]
    named += [int(n) - 1 for n in _NUMBERED.findall(low)]
    return any(index >= len(shown) for index in named)


def _colour(low: str) -> str | None:
    return next((_COLOUR_WORDS[w] for w in _words(low) if w in _COLOUR_WORDS), None)


def _material(low: str) -> str | None:
    return next((w for w in _words(low) if w in MATERIALS), None)


def _look_kept(base: Search, colour: str | None, material: str | None) -> tuple[str | None, str | None]:
    """The colour and material after one of them changes: the one not changed stays, whether the
    search held it as a constraint or in its words ("pink glass bowls" → "no, blue": blue, glass)."""
    return colour or base.colour or _colour(base.words), material or base.material or _material(base.words)


def look_of(words: str) -> tuple[str | None, str | None]:
    """The colour and material a search's words ask for ("blue glass vases": blue, glass)."""
    low = words.lower()
    return _colour(low), _material(low)


def without_look(words: str) -> str:
    """A search's words without its colour and material words ("blue glass vases": vases)."""
    return " ".join(w for w in _words(words.lower()) if w not in _COLOUR_WORDS and w not in MATERIALS)


def looks(product: Product, colour: str | None, material: str | None) -> bool:
    """Whether a product is of that colour and material (its name or its facts say so)."""
    return _has(product, colour, material)


def _has(product: Product, colour: str | None, material: str | None) -> bool:
    name = product.name.lower()
    facts = product.facts
    ok_colour = colour is None or colour in name or colour in facts.get("colours", [])
    ok_material = material is None or material in name or material in facts.get("materials", [])
    return ok_colour and ok_material


def _kind_of(product: Product) -> str | None:
    """The last word of a product's name, its kind ("clock" of "Retro Red Alarm Clock")."""
    words = [w for w in _words(product.name.lower()) if not w.isdigit()]
    return _singular(words[-1]) if words else None


_ASKS = {
    "price": "how much is", "pack": "how many come in", "shipping": "where do you ship",
    "bought_with": "what goes with", "popularity": "how popular is", "colour": "what colours does",
    "material": "what is", "overview": "tell me about", "basket": "how do I buy",
}
_TAILS = {"colour": " come in", "material": " made of"}


def _question(aspect: str, product: Product) -> str:
    """The standalone question of an aspect about a product ("how much is the Red Doormat?")."""
    return f"{_ASKS.get(aspect, 'tell me about')} the {product.name}{_TAILS.get(aspect, '')}?"


def _described(search: Search) -> str:
    """A search written out, constraints included ("pink lunch bags under £10")."""
    parts = [search.query()]
    if search.present and not search.words and search.prefer == CHILD_CATEGORIES:
        parts.append("for a child")
    if search.min_price is not None and search.max_price is not None:
        parts.append(f"between £{search.min_price:.2f} and £{search.max_price:.2f}")
    elif search.max_price is not None:
        parts.append(f"under £{search.max_price:.2f}")
    elif search.min_price is not None:
        parts.append(f"over £{search.min_price:.2f}")
    if search.without:
        parts.append("not " + ", ".join(search.without))
    return " ".join(parts)


CHILD_CATEGORIES = ("Toys & Games", "Party", "Stationery")


def search_of(text: str, entities: Entities) -> Search:
    """The search a message asks for when it stands alone (its constraints from its own words):
    for a present, what the recipient is into ("my husband is london mad": london)."""
    low = " ".join(text.lower().replace("’", "'").split())
    prefer = CHILD_CATEGORIES if for_child(low) else ()
    interest = interest_of(low)
    words = interest or product_query(text)
    present = wants_present(low)
    if present and not interest:
        # "a birthday present for my mum": who it is for and the occasion are not what it is (the
        # search would find birthday cards); what is left, if anything, is ("a christmas present").
        words = present_words(words)
    if not interest and not kind_words(words):
        # Nothing said of what kind ("anything under £3?", "can you recommend something under
        # £5"): the shop's favourites within the constraints, not whatever "anything" embeds near.
        words = ""
    return Search(words, min_price=entities.min_price, max_price=entities.max_price, prefer=prefer,
                  order=price_order(low), present=present)


# What a word of an interest ends with that its products' names may not ("gardening": Garden).
_SUFFIX = re.compile(r"(?:ing|ers|er)$")


def about(product: Product, interest: str) -> bool:
    """Whether a product's name or category speaks of an interest: a word of it starts with the
    stem of a word of the interest ("Garden" for gardening, "Owls" for owls, "Baking" for baking)."""
    words = [_canon(w) for w in _words(f"{product.name} {product.category}".lower())]
    said = [w for w in map(_canon, _words(interest)) if len(w) > 2 and w not in _GENERIC]
    stems = [_SUFFIX.sub("", w) if len(w) > 5 else w for w in said]
    return any(w.startswith(stem) for stem in stems for w in words)


def things(interest: str) -> str:
    """What an interest's things are called ("unicorns" → "unicorn things")."""
    return " ".join(_singular(w) for w in _words(interest)) + " things"


def size_words(size: str | None) -> tuple[str, ...]:
    """The name words that make a product ``large`` or ``small``."""
    return _SIZES.get(size or "", ())


# A message the router reads this surely on its own stands alone, even after an FAQ answer:
# "what payment methods do you accept?" (0.98), "do you sell doormats?" (1.00). Follow-ups that
# need the question before read far less surely alone ("how long does approval take?": 0.40).
# Chosen on development conversations only (docs/quality.md, "Conversations"). The same holds
# for the router's out_of_scope class: "what's the weather in Paris" after the returns answer is
# off-topic alone (1.00), not a question about returns.
CLEAR_ALONE = 0.9
# "what about ...?", "ok and how about ...?": the same question of something else, or another entry.
_WHAT_ABOUT = re.compile(r"^(?:(?:ok(?:ay)?|right|and|so|hmm|cool|thanks)[,.!]* )*(?:what|how) about\b")


def clear_alone(alone: RouterOutput, text: str = "") -> bool:
    """The message is clear without the conversation (an entry's, or off-topic): an FAQ
    follow-up reading is not kept. "What about the usa?" after the delivery answer is off-topic
    alone (the router declined it) but asks the same question of another place: a "what about"
    stands alone only when an entry says so."""
    if bool(alone.ranking) and alone.ranking[0][1] >= CLEAR_ALONE:
        return True
    return alone.off_topic >= CLEAR_ALONE and not _what_about(text)


# "ok what about returns from germany?" after the delivery answer: "what about" names another
# entry. Read with the delivery question before it the router is torn (delivery 0.67, return
# costs 0.29); alone it reads return costs more likely than not (0.80). "What about for europe?"
# after the Christmas deadlines also reads alone as another entry (delivery abroad, 0.58), but
# with the question before it surely as the deadlines (0.99): it stays. Only an FAQ entry
# switches: "what about klarna?" after the payment answer reads alone as the favourites.
SWITCH_ALONE = 0.5


def switches_entry(text: str, alone: RouterOutput, with_topic: RouterOutput, topic: str | None,
                   is_faq: Callable[[str], bool]) -> bool:
    """"What about X?" after an FAQ answer, where X alone is another FAQ entry (``is_faq``: the
    label is answered from an FAQ entry) and the message read with the question before it is
    unsure: the message is read alone."""
    if not alone.ranking or not _what_about(text):
        return False
    label, probability = alone.ranking[0]
    unsure = not with_topic.ranking or with_topic.ranking[0][1] < CLEAR_ALONE
    return unsure and label != topic and probability >= SWITCH_ALONE and is_faq(label)


def _what_about(text: str) -> bool:
    return bool(_WHAT_ABOUT.search(" ".join(text.lower().split())))


def kind_words(words: str, vocabulary: frozenset[str] | None = None) -> tuple[str, ...]:
    """What a search asks for, as words a product's name holds ("lunch bags" → lunch, bag);
    with ``vocabulary`` (:func:`name_words`), only words some product's name has ("my daughter
    collects owls" → owl)."""
    kinds = tuple(_canon(w) for w in _words(words.lower()) if w not in _GENERIC and not w.isdigit()
                  and len(w) > 2)
    if vocabulary is None:
        return kinds
    # Only a short search of things the catalogue names ("lunch bags", "green fern notebooks") says
    # what kind of thing is wanted; "a present for my mum who loves gardening" does not.
    return kinds if 1 <= len(kinds) <= 4 and all(w in vocabulary for w in kinds) else ()


def name_words(products: Iterable[Product]) -> frozenset[str]:
    """Every word of the products' names, singular, lower-case."""
    return frozenset(_canon(w) for p in products for w in _words(p.name.lower()))


def describe(search: Search) -> str:
    """A search written out, constraints included ("pink lunch bags under £10")."""
    return _described(search)
