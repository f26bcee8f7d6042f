"""Fixed wording of the bot's own replies (everything not from the FAQ, an action or GPT-2)."""

from __future__ import annotations

from collections.abc import Sequence

from core.messages import BotMessage, Button
from core.shop import Product

CAPABILITIES = (
    Button("Delivery times", "/uk_delivery"),
    Button("Find a gift", "/recommend"),
    Button("Track my order", "/order_status"),
    Button("Talk to a person", "/handoff"),
)


def decline() -> BotMessage:
    """Polite out-of-scope answer with what the bot can do instead."""
    return BotMessage(
        text=(
            "Sorry, I can only help with our shop: products, orders, delivery, returns and "
            "payments. Is there something about those I can help with?"
        ),
        buttons=CAPABILITIES,
    )


# For a message in another language (bot/engine/language.py): that the assistant answers in
# English, what it can do there, and a person, in the shopper's own language. One per language
# detected (tests/bot/engine/test_language.py checks none is missing).
OTHER_LANGUAGE = {
    "de": ("Entschuldigung, ich antworte nur auf Englisch. Auf Englisch helfe ich bei Fragen zu "
           "Lieferung und Rückgabe, bei der Produktsuche und zum Stand Ihrer Bestellung. Möchten Sie "
           "lieber mit einem Menschen sprechen?", "Mit einem Menschen sprechen"),
    "fr": ("Désolé, je ne réponds qu'en anglais. En anglais, je peux vous aider pour la livraison et "
           "les retours, la recherche de produits et le suivi de votre commande. Préférez-vous parler "
           "à une personne ?", "Parler à une personne"),
    "es": ("Lo siento, solo respondo en inglés. En inglés puedo ayudarle con envíos y devoluciones, "
           "a encontrar productos y con el estado de su pedido. ¿Prefiere hablar con una persona?",
           "Hablar con una persona"),
    "it": ("Mi dispiace, rispondo solo in inglese. In inglese posso aiutarla con spedizioni e resi, "
           "nella ricerca dei prodotti e sullo stato del suo ordine. Preferisce parlare con una "
           "persona?", "Parlare con una persona"),
    "nl": ("Sorry, ik antwoord alleen in het Engels. In het Engels help ik met vragen over levering "
           "en retourneren, het vinden van producten en de status van uw bestelling. Wilt u liever "
           "met een medewerker praten?", "Met een medewerker praten"),
    "pt": ("Desculpe, só respondo em inglês. Em inglês, posso ajudar com entregas e devoluções, a "
           "encontrar produtos e com o estado da sua encomenda. Prefere falar com uma pessoa?",
           "Falar com uma pessoa"),
    "pl": ("Przepraszam, odpowiadam tylko po angielsku. Po angielsku pomogę w sprawie dostawy i "
           "zwrotów, wyszukiwania produktów oraz statusu zamówienia. Czy wolisz porozmawiać z "
           "konsultantem?", "Porozmawiaj z konsultantem"),
    "sv": ("Tyvärr svarar jag bara på engelska. På engelska kan jag hjälpa till med leveranser och "
           "returer, att hitta produkter och status för din beställning. Vill du hellre prata med en "
           "person?", "Prata med en person"),
    "da": ("Beklager, jeg svarer kun på engelsk. På engelsk kan jeg hjælpe med levering og "
           "returnering, med at finde produkter og med status på din ordre. Vil du hellere tale med en "
           "person?", "Tal med en person"),
    "nb": ("Beklager, jeg svarer bare på engelsk. På engelsk kan jeg hjelpe med levering og retur, "
           "med å finne produkter og med status på bestillingen din. Vil du heller snakke med en "
           "person?", "Snakk med en person"),
    "fi": ("Valitettavasti vastaan vain englanniksi. Englanniksi autan toimituksiin ja palautuksiin "
           "liittyvissä kysymyksissä, tuotteiden etsimisessä ja tilauksesi tilan selvittämisessä. Haluatko "
           "mieluummin keskustella asiakaspalvelijan kanssa?", "Keskustele asiakaspalvelijan kanssa"),
    "el": ("Λυπάμαι, απαντώ μόνο στα αγγλικά. Στα αγγλικά μπορώ να βοηθήσω με την αποστολή και τις "
           "επιστροφές, την αναζήτηση προϊόντων και την κατάσταση της παραγγελίας σας. Θέλετε να "
           "μιλήσετε με έναν εκπρόσωπο;", "Συνομιλία με εκπρόσωπο"),
    "ro": ("Îmi pare rău, răspund doar în engleză. În engleză vă pot ajuta cu livrarea și returul, "
           "cu găsirea produselor și cu stadiul comenzii. Preferați să vorbiți cu o persoană?",
           "Vorbiți cu o persoană"),
    "ja": ("申し訳ありませんが、英語でのみお答えしています。英語でしたら、配送と返品、商品探し、ご注文の"
           "状況についてお手伝いできます。担当者とお話しになりますか？", "担当者と話す"),
    "zh": ("抱歉，我只能用英语回答。用英语的话，我可以帮您解答配送和退货问题、查找商品以及查询订单状态。"
           "您想和客服人员交谈吗？", "联系客服人员"),
}


def other_language(code: str) -> BotMessage:
    """For a message in another language (ISO 639-1 ``code``): that the assistant answers in
    English and what it can do there, with a person offered, in that language (in English for
    a language without a translation)."""
    text, person = OTHER_LANGUAGE.get(code, (
        "Sorry, I can only answer in English. In English I can help with delivery and returns, "
        "finding products and the status of your order. Would you rather talk to a person?",
        "Talk to a person"))
    return BotMessage(text=text, buttons=(Button(person, "/handoff"),))


def handoff() -> BotMessage:
    """Acknowledgement that a person will take over."""
    return BotMessage(
        text=(
            "Of course. I've asked a member of our customer service team to join this "
            "conversation; they will reply here as soon as they can."
        )
    )


def escalated(reason: str, position: int, said: tuple[BotMessage, ...]) -> tuple[BotMessage, ...]:
    """What the shopper reads when a person is asked to join: why, and their place in the queue."""
    queue = (
        "You're next in the queue." if position <= 1 else f"You're number {position} in the queue."
    )
    if reason == "requested":
        return (BotMessage(text=f"Of course. I've asked a member of our customer service team to "
                                f"join this conversation. {queue} They will reply right here."),)
    lead = ("I'm sorry this has been frustrating." if reason == "negative_sentiment"
            else "I don't seem to be getting this right.")
    note = BotMessage(text=f"{lead} I've asked a member of our team to join this conversation. "
                           f"{queue} They will reply right here.")
    return (*said, note)


WAITING = "A member of our team will reply here shortly."
# Channels whose shoppers get staff messages the moment they are sent (bot/channels/socketio.py).
LIVE_CHANNELS = frozenset({"socketio"})


def with_person(assignee: str | None, channel: str) -> tuple[BotMessage, ...]:
    """The reply to a shopper's message while a person is about to take (``assignee`` None) or has
    the conversation: the bot does not answer it. Waiting, the shopper always hears that a person
    will reply; once one has joined a live chat, their replies are the answer (nothing from the
    bot), elsewhere (REST) the shopper hears the message reached them."""
    if assignee is None:
        return (BotMessage(text=WAITING),)
    if channel in LIVE_CHANNELS:
        return ()
    return (BotMessage(text=f"{assignee} from our customer service team has your message."),)


def generation_failed() -> BotMessage:
    """Canned answer when generation fails or runs out of time."""
    return BotMessage(
        text=(
            "I'm not sure about that one. You can ask me about a product by name, or talk to "
            "a person from our team."
        ),
        buttons=(Button("Talk to a person", "/handoff"),),
    )


def error() -> BotMessage:
    """Answer when the turn failed."""
    return BotMessage(
        text="Sorry, something went wrong on our side. Please try again in a moment.",
        buttons=(Button("Talk to a person", "/handoff"),),
    )


def none_of_kind(wanted: str) -> str:
    """A narrowed search found nothing of the kind asked for: said, before what comes closest."""
    return f"I couldn't find any {wanted}. These come closest:"


def no_products() -> BotMessage:
    """Product search found nothing in the requested range."""
    return BotMessage(
        text="I couldn't find products matching that. Could you describe it another way?",
    )


def too_many_lookups(wait_s: int) -> BotMessage:
    """Order lookups are paused for this conversation or address."""
    minutes = max(1, round(wait_s / 60))
    return BotMessage(
        text=(f"You've looked up several orders in a short time. Please try again in about {minutes} "
              f"minute{'s' if minutes != 1 else ''}, or sign in to see your orders straight away."),
        buttons=(Button("Talk to a person", "/handoff"),),
    )


def escalation_unavailable() -> BotMessage:
    """A person was asked for, but the queue cannot be reached right now."""
    return BotMessage(
        text=("I'm sorry, I can't reach our customer service team right now. Please try again in "
              "a few minutes, or email hello@shopbot-demo.example."),
    )


def not_sure(cards: list[dict[str, object]]) -> tuple[BotMessage, ...]:
    """A generated answer was withheld (its claims were not all in the evidence): say so, show
    the products found (``Product.card()`` payloads) and offer a person."""
    shown = " Here are the products I found that come closest." if cards else ""
    text = (f"I'm not sure about that, so I won't guess.{shown} "
            "Would you like me to ask a person from our team?")
    said = BotMessage(text=text, buttons=(Button("Ask a person", "/handoff"),))
    return (said, BotMessage(custom={"type": "products", "products": cards})) if cards else (said,)


def which_to_add(shown: Sequence[Product]) -> tuple[BotMessage, ...]:
    """A basket request that names no product: the chat cannot add it; which one they mean,
    with the cards shown before to pick from."""
    text = ("I can't add things to your basket from this chat, but every product's page in our shop "
            "has an add-to-basket button.")
    text += " Which of these would you like? I can tell you its price and more." if shown else \
        " Which product would you like? I can find it for you."
    return (BotMessage(text=text), *_cards(shown))


def which_product(suggestions: Sequence[Product]) -> tuple[BotMessage, ...]:
    """A stock question that names no product: which one to check (with the nearest shown)."""
    text = "Which product would you like me to check the stock of?"
    if suggestions:
        text += " Is it one of these?"
    return (BotMessage(text=text), *_cards(suggestions))


def _cards(products: Sequence[Product]) -> tuple[BotMessage, ...]:
    """The products' cards as one message, or nothing when there are none."""
    return (BotMessage(custom={"type": "products", "products": [p.card() for p in products]}),) \
        if products else ()
