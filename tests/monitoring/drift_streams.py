"""Replayed message streams for the drift tests: off-topic questions and the shop's own FAQ.

The off-topic messages are none of the ``out_of_scope`` examples in data/intents.yml: weather,
sport, tax and law, science, cars, pets, money, travel, gardening, homework.
"""

from __future__ import annotations

from core.settings import Settings
from retrieval.knowledge import load_knowledge

OFF_TOPIC = [
    "what's the weather going to be like in Paris on Friday",
    "will it be windy in Glasgow this afternoon",
    "is it going to hail in Cardiff tonight",
    "what was the temperature in Cairo yesterday",
    "who scored the winning goal in the cup final",
    "when does the Premier League season start",
    "how many times has Liverpool won the Champions League",
    "who is the best tennis player of all time",
    "what time does the rugby kick off on Sunday",
    "how do I file my self assessment tax return",
    "what is the inheritance tax threshold in England",
    "can I claim VAT back on a company car",
    "how much capital gains tax do I pay on shares",
    "what is the statute of limitations for contract disputes",
    "how do I write a will without a solicitor",
    "can my landlord increase the rent twice a year",
    "how do I appeal a parking fine",
    "what is the boiling point of nitrogen",
    "explain the theory of relativity in simple terms",
    "how many moons does Jupiter have",
    "what causes the northern lights",
    "who painted the Mona Lisa",
    "when was the Magna Carta signed",
    "what is the population of Canada",
    "how do volcanoes form",
    "what is the chemical symbol for gold",
    "how do I change a flat tyre on my bike",
    "what oil does a 2015 Ford Focus take",
    "how often should I service my boiler",
    "how do I bleed a radiator",
    "what is the best way to learn the guitar",
    "recommend a good science fiction novel to read",
    "what should I watch on Netflix tonight",
    "who won the Oscar for best actor last year",
    "what is the tallest building in the world",
    "what do hamsters eat",
    "how long do tortoises live",
    "what is the stock price of Apple right now",
    "should I invest in bitcoin",
    "how do mortgages work in the UK",
    "what is a good credit score",
    "how do I apply for a passport renewal",
    "how can I improve my chess openings",
    "what is the meaning of life",
    "tell me a joke about penguins",
    "how do I get to the British Museum from Kings Cross",
    "what are the opening hours of the Louvre",
    "how do I grow tomatoes in a greenhouse",
    "when should I prune my apple tree",
    "what is the difference between a virus and bacteria",
    "how do I calculate the area of a circle",
    "what is the derivative of x squared",
    "who discovered penicillin",
    "how far is Mars from the sun",
    "what are the rules of cricket",
    "can you help me with my maths homework",
    "what's the best pub in Bristol",
    "how do I make sourdough starter",
    "what is the speed limit on a UK motorway",
    "how do I register to vote",
]


def on_topic() -> list[str]:
    """The first phrasing of every FAQ entry (data/faq.yml): what shoppers normally ask."""
    return [entry.questions[0] for entry in load_knowledge(Settings().faq_path)]
