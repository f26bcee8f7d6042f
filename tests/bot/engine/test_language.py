"""The language stage on its labelled set (data/eval/languages.jsonl), and the replies it leads to.

The figures asserted are those measured when the threshold was chosen (docs/quality.md,
"Languages"): no English message answered in another language, and few foreign ones missed.
``python -m tests.bot.engine.test_language`` prints them for the shop under ``var/``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.engine import replies
from bot.engine.language import LANGUAGES, LanguageDetector
from core.settings import REPO_ROOT, Settings
from core.shop import load_products
from retrieval.knowledge import load_knowledge

LABELLED = REPO_ROOT / "data" / "eval" / "languages.jsonl"
# The languages answered in their own words (every one detected but English).
ANSWERED = {language.iso_code_639_1.name.lower() for language in LANGUAGES} - {"en"}


def labelled(*sources: str) -> list[dict[str, Any]]:
    """The labelled messages from ``sources`` (all when none given)."""
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if not sources or r["source"] in sources]


def foreign(row: dict[str, Any]) -> bool:
    return row["language"] not in (None, "en")


@dataclass(frozen=True)
class Scores:
    """How the detector told "another language" on labelled messages."""

    found: int
    wrongly_foreign: tuple[str, ...]
    missed: tuple[str, ...]
    # Found foreign, but named the wrong language (one outside the set should be "und").
    misnamed: tuple[str, ...]

    @property
    def precision(self) -> float:
        return self.found / (self.found + len(self.wrongly_foreign)) if self.found else 0.0

    @property
    def recall(self) -> float:
        return self.found / (self.found + len(self.missed)) if self.found or self.missed else 0.0

    @property
    def named_right(self) -> float:
        return 1 - len(self.misnamed) / self.found if self.found else 0.0


def scores(detector: LanguageDetector, rows: list[dict[str, Any]]) -> Scores:
    """Precision and recall of "another language" on ``rows``, and how often it was named right."""
    found, wrongly, missed, misnamed = 0, [], [], []
    for row in rows:
        got = detector.run(row["text"])
        if got.foreign and foreign(row):
            found += 1
            expected = row["language"] if row["language"] in ANSWERED else "und"
            if got.code != expected:
                misnamed.append(f"{row['text']} ({got.code})")
        elif got.foreign:
            wrongly.append(f"{row['text']} ({got.code})")
        elif foreign(row):
            missed.append(row["text"])
    return Scores(found, tuple(wrongly), tuple(missed), tuple(misnamed))


@pytest.fixture(scope="module")
def detector(built_var: Path) -> LanguageDetector:
    """The detector as the server builds it: the demo catalogue's names as the shop's English."""
    names = [p.name for p in load_products(Settings(var_dir=built_var).shop_dir)]
    found = LanguageDetector(names)
    found.warm_up()
    return found


def test_the_labelled_set_is_what_docs_quality_describes() -> None:
    rows = labelled("phrasing", "product", "written", "code", "holdout")
    assert len(rows) >= 150 and sum(map(foreign, rows)) >= 60
    assert {r["language"] for r in rows if foreign(r)} == ANSWERED, "every language answered is tested"


def test_no_english_message_is_answered_in_another_language(detector: LanguageDetector) -> None:
    measured = scores(detector, labelled("phrasing", "product", "written", "code", "holdout"))
    assert measured.wrongly_foreign == ()
    # Measured: 0.964 (the misses: five one-word thanks and one French question of four words).
    assert measured.recall >= 0.95, measured.missed
    # Measured: 0.987 (Danish read as Norwegian twice: the two are written nearly alike).
    assert measured.named_right >= 0.98, measured.misnamed
    held_out = scores(detector, labelled("holdout"))
    assert held_out.missed == () and held_out.wrongly_foreign == (), "written after the threshold was chosen"


def test_the_shops_own_english_stays_english(detector: LanguageDetector, built_var: Path) -> None:
    settings = Settings(var_dir=built_var)
    phrasings = [q for path in (settings.faq_path, settings.intents_path)
                 for entry in load_knowledge(path) for q in entry.questions]
    names = [p.name for p in load_products(settings.shop_dir)]
    assert len(phrasings) > 700 and len(names) > 3000
    assert [t for t in phrasings + names if detector.run(t).foreign] == []


@pytest.mark.parametrize("text", [
    "85123A", "C560345", "£12.50", "/handoff", '/order_status{"order_number": "536365"}', "ok", "Danke",
    "merci", "Regency cakestand 3 tier", "Parisienne Curio Cabinet", "jane.doe@example.com", "😀😀",
])
def test_codes_payloads_product_names_and_short_messages_count_as_english(
    detector: LanguageDetector, text: str
) -> None:
    assert detector.run(text).code == "en"


def test_other_scripts_are_never_english(detector: LanguageDetector) -> None:
    assert detector.run("Ευχαριστώ").code == "el"
    assert detector.run("谢谢").code == "zh"
    # Scripts and letters of languages outside the set: not English, and not guessed either.
    for text in ("Где мой заказ?", "هل تشحنون إلى الإمارات؟", "한국으로 배송되나요?",
                 "Posíláte zboží do České republiky?", "Gửi hàng đến Việt Nam không?"):
        assert detector.run(text).code == "und", text


def test_a_message_takes_well_under_a_millisecond(detector: LanguageDetector) -> None:
    took = timings(detector, [r["text"] for r in labelled()])
    # Measured on 2 cores: 0.2 ms a message on average, 0.5 ms at the 95th percentile (short
    # messages never reach the models), so the pipeline runs it on the event loop.
    assert percentile95(took) < 0.001


def test_warm_up_loads_once(detector: LanguageDetector) -> None:
    loaded = detector._detector
    detector.warm_up()
    assert loaded is not None and detector._detector is loaded
    cold = LanguageDetector()
    assert cold._detector is None, "building one loads nothing"
    assert cold.run("Wo ist meine Bestellung?").code == "de", "the first message loads the models"


def test_every_language_detected_has_its_reply(detector: LanguageDetector) -> None:
    assert set(replies.OTHER_LANGUAGE) == ANSWERED
    for code in sorted(ANSWERED):
        message = replies.other_language(code)
        assert message.text is not None
        assert detector.run(message.text).code == code, "the reply is written in the language itself"
        assert [b.payload for b in message.buttons] == ["/handoff"], "a person is offered"
    unknown = replies.other_language("und")
    assert unknown.text is not None and "only answer in English" in unknown.text
    assert [b.payload for b in unknown.buttons] == ["/handoff"]


def test_short_everyday_english_follow_ups_stay_english(detector: LanguageDetector) -> None:
    # Follow-ups from docs/quality.md's conversations that read like another language to the models.
    for text in ("under a tenner", "only ones under a pound", "got any others?", "nope, pink"):
        assert not detector.run(text).foreign, text


def main(paths: Sequence[str] = ()) -> None:
    """Print the figures docs/quality.md reports, for the shop under ``var/``; and for each of
    ``paths`` (JSON lines with a ``text``, e.g. CLINC150 validation), how many of its messages are
    read as another language, and which."""
    settings = Settings()
    detector = LanguageDetector(p.name for p in load_products(settings.shop_dir))
    detector.warm_up()
    parts = {"chosen on": ("phrasing", "product", "written", "code"), "held out": ("holdout",),
             "in the set": ("phrasing", "product", "written", "code", "holdout"), "outside": ("outside",)}
    for part, sources in parts.items():
        rows = labelled(*sources)
        got = scores(detector, rows)
        print(f"{part}: {len(rows)} messages, {sum(map(foreign, rows))} foreign: "
              f"precision {got.precision:.3f}, recall {got.recall:.3f}, named right {got.named_right:.3f}")
        for kind, texts in (("wrongly foreign", got.wrongly_foreign), ("missed", got.missed),
                            ("misnamed", got.misnamed)):
            if texts:
                print(f"  {kind}: {'; '.join(texts)}")
    phrasings = [q for path in (settings.faq_path, settings.intents_path)
                 for entry in load_knowledge(path) for q in entry.questions]
    names = [p.name for p in load_products(settings.shop_dir)]
    wrong = sum(detector.run(t).foreign for t in phrasings), sum(detector.run(t).foreign for t in names)
    print(f"shop phrasings read as foreign: {wrong[0]} of {len(phrasings)}; "
          f"product names: {wrong[1]} of {len(names)}")
    took = timings(detector, [r["text"] for r in labelled()] + phrasings)
    print(f"per message ({len(took)}): mean {statistics.fmean(took) * 1000:.3f} ms, "
          f"95th percentile {percentile95(took) * 1000:.3f} ms, longest {max(took) * 1000:.3f} ms")
    for path in paths:
        texts = [json.loads(line)["text"] for line in Path(path).read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        read = [(text, detector.run(text)) for text in texts]
        others = [f"{text!r} ({language.code})" for text, language in read if language.foreign]
        print(f"{path}: {len(others)} of {len(texts)} read as another language: {'; '.join(others)}")


def timings(detector: LanguageDetector, texts: list[str]) -> list[float]:
    """Seconds ``detector.run`` took on each of ``texts``."""
    took = []
    for text in texts:
        start = time.perf_counter()
        detector.run(text)
        took.append(time.perf_counter() - start)
    return took


def percentile95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


if __name__ == "__main__":
    main(sys.argv[1:])

