"""The grounded generator: prompt format, corpus, training a tiny GPT-2 and generating with it."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from transformers import AutoTokenizer, GPT2LMHeadModel

from bot.generation.generator import Gpt2Generator, checkpoint_version
from bot.generation.prompt import (
    END_TOKEN,
    build_document,
    build_prompt,
    extract_answer,
    split_document,
)
from bot.training.corpus import build_corpus
from bot.training.generator import (
    META_FILE,
    TrainConfig,
    TrainReport,
    corpus_version,
    train_generator,
)
from core.errors import GenerationError, NotReady
from core.shop import Product


@dataclass(frozen=True)
class Entry:
    """Stands in for retrieval.knowledge.KnowledgeEntry (same fields)."""

    id: str
    questions: tuple[str, ...]
    answer: str | None


FAQ = [
    Entry("delivery", ("how long does delivery take?", "when will my parcel arrive"),
          "Standard UK delivery takes 2 to 4 working days."),
    Entry("returns", ("can I return an item?", "what is your returns policy"),
          "You can return unused items within 30 days for a full refund."),
    Entry("recommend", ("recommend me a gift",), None),
]
PRODUCTS = [
    Product("23169", "Classic Glass Cookie Jar", 4.25, "Kitchen & Dining"),
    Product("21166", "Cook With Wine Metal Sign", 2.08, "Home Decor"),
    Product("22516", "Childs Garden Rake Blue", 2.10, "Garden"),
    Product("20970", "Pink Floral Feltcraft Shoulder Bag", 3.75, "Bags & Storage"),
    Product("85123A", "White Hanging Heart T-Light Holder", 2.95, "Home Decor"),
    Product("22423", "Regency Cakestand 3 Tier", 12.75, "Kitchen & Dining"),
]


def test_prompt_and_extract_round_trip() -> None:
    passages = ["Classic Glass Cookie Jar.\nKitchen & Dining.", "Price £4.25."]
    answer = "The Classic Glass Cookie Jar costs £4.25."
    document = build_document("how much is the  cookie jar?", passages, answer)
    prompt, completion = split_document(document)

    assert prompt == build_prompt("how much is the  cookie jar?", passages)
    assert prompt == ("Context: Classic Glass Cookie Jar. Kitchen & Dining. | Price £4.25.\n"
                      "Question: how much is the cookie jar?\nAnswer:")
    assert completion.endswith(END_TOKEN)
    assert extract_answer(completion) == answer
    assert extract_answer(" It costs £4.25.\nQuestion: and more") == "It costs £4.25."


def test_corpus_answers_restate_facts_from_their_context() -> None:
    corpus = build_corpus(FAQ, PRODUCTS, questions_per_product=3)

    assert corpus == build_corpus(FAQ, PRODUCTS, questions_per_product=3)
    # 4 FAQ phrasings x 2 variants; per product 3 questions and 1 fact document (price only here)
    assert len(corpus) == 4 * 2 + len(PRODUCTS) * (3 + 1)
    assert not any("recommend me a gift" in doc for doc in corpus)
    for doc in corpus:
        prompt, completion = split_document(doc)
        answer = extract_answer(completion)
        context = prompt.split("\nQuestion:")[0]
        facts = [p for p in PRODUCTS if p.name in answer]
        if facts:
            assert facts[0].passage() in context
            assert any(fact in answer for fact in (f"£{facts[0].price:.2f}",
                                                   facts[0].category, facts[0].stock_code))
        else:
            assert answer in context


def test_fact_documents_are_laid_out_as_product_answers_prompt() -> None:
    jar = dataclasses.replace(PRODUCTS[0], facts={"price_min": 3.75, "price_max": 4.25, "orders": 12,
                                                 "countries": ["United Kingdom", "France"]})
    corpus = build_corpus([], [jar], questions_per_product=0, fact_questions_per_product=9)
    facts = jar.fact_sentences()
    assert len(corpus) == len(facts)  # one per aspect the facts answer
    for doc in corpus:
        prompt, completion = split_document(doc)
        answer = extract_answer(completion)
        assert answer in facts.values()
        question = prompt.split("\nQuestion: ")[1].split("\nAnswer:")[0]
        # The prompt answer_about builds: the fact that answers, then the product's evidence.
        assert prompt == build_prompt(question, (answer, jar.evidence()))


def test_fact_questions_share_no_wording_with_the_evaluation_questions() -> None:
    # The open product questions (bench/product_questions.py) must stay unseen by the generator.
    from bot.training.corpus import _FACT_QUESTIONS, _PRODUCT_TEMPLATES
    from tests.bench_script import load_bench_script

    pq = load_bench_script("product_questions")
    evaluated = {t for templates in pq.ASKED.values() for t in templates} | set(pq.UNANSWERABLE)
    facts = {t for templates in _FACT_QUESTIONS.values() for t in templates}
    assert facts and not (facts | {question for question, _ in _PRODUCT_TEMPLATES}) & evaluated

    # The fact questions do not even share the words around the product ("how much does the").
    def frames(template: str) -> set[str]:
        return {part.strip(" ?") for part in template.split("{m}") if len(part.strip(" ?")) > 8}

    assert not set().union(*map(frames, facts)) & set().union(*map(frames, evaluated))


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    return build_corpus(FAQ, PRODUCTS, questions_per_product=4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus: list[str]) -> TrainReport:
    out = tmp_path_factory.mktemp("gen") / "generator"
    return train_generator(corpus, out, config=TrainConfig.tiny(), progress=False)


@pytest.mark.slow
def test_training_saves_a_standard_hf_checkpoint(trained: TrainReport) -> None:
    model = GPT2LMHeadModel.from_pretrained(trained.out_dir)
    tokenizer = AutoTokenizer.from_pretrained(trained.out_dir)
    meta = json.loads((trained.out_dir / META_FILE).read_text())

    assert meta["version"] == trained.version
    assert trained.steps == TrainConfig.tiny().steps
    assert trained.final_loss > 0
    assert trained.parameters == sum(p.numel() for p in model.parameters())
    assert tokenizer.convert_tokens_to_ids(END_TOKEN) == model.config.eos_token_id
    assert tokenizer.decode(tokenizer("Cookie Jar £4.25")["input_ids"]) == "Cookie Jar £4.25"


@pytest.mark.slow
def test_same_corpus_keeps_its_version_and_is_not_retrained(
    trained: TrainReport, corpus: list[str]
) -> None:
    again = train_generator(corpus, trained.out_dir, config=TrainConfig.tiny(), progress=False)
    other = build_corpus(FAQ, PRODUCTS, questions_per_product=4, seed=1)

    assert again.reused and again.version == trained.version
    assert again.final_loss == trained.final_loss
    assert corpus_version(other, TrainConfig.tiny()) != trained.version


@pytest.mark.slow
def test_training_shrinks_its_plan_to_the_time_budget(
    corpus: list[str], tmp_path: Path
) -> None:
    config = dataclasses.replace(TrainConfig.tiny(), steps=100_000, max_seconds=1.5)

    report = train_generator(corpus, tmp_path / "gen", config=config, progress=False)

    assert 0 < report.steps < config.steps
    assert report.train_seconds < 15
    assert GPT2LMHeadModel.from_pretrained(report.out_dir).config.n_embd == config.n_embd


@pytest.mark.slow
def test_generator_answers_within_budget(trained: TrainReport) -> None:
    generator = Gpt2Generator(trained.out_dir, max_new_tokens=20)
    generator.warm_up()
    generator.warm_up()

    result = generator.run("how much is the cookie jar?", [PRODUCTS[0].passage()], max_time_s=5.0)

    assert result.text and "\n" not in result.text
    assert 0 < result.new_tokens <= 20
    assert 0 < result.elapsed_ms < 5000
    assert generator.version == trained.version


@pytest.mark.slow
def test_long_context_is_cut_to_fit_the_model(trained: TrainReport) -> None:
    generator = Gpt2Generator(trained.out_dir, max_new_tokens=20)
    passages = [p.passage() for p in PRODUCTS] * 10

    result = generator.run("tell me about the cake stand", passages, max_time_s=5.0)

    n_positions = TrainConfig.tiny().n_positions
    assert result.prompt_tokens + result.new_tokens <= n_positions
    assert result.prompt_tokens <= n_positions - 20


@pytest.mark.slow
def test_tiny_time_budget_stops_after_one_token(trained: TrainReport) -> None:
    generator = Gpt2Generator(trained.out_dir, max_new_tokens=60)
    generator.warm_up()
    started = time.perf_counter()

    try:
        result = generator.run("how much is the classic glass cookie jar?",
                               [PRODUCTS[0].passage()], max_time_s=1e-6)
    except GenerationError as err:  # the one token it had time for was blank
        assert "time budget" in str(err)
    else:
        assert result.timed_out and result.new_tokens == 1 and result.text

    assert time.perf_counter() - started < 1.0


@pytest.mark.slow
def test_concurrent_calls_from_executor_threads(trained: TrainReport) -> None:
    generator = Gpt2Generator(trained.out_dir, max_new_tokens=10)
    questions = [f"how much is the {p.name.lower()}?" for p in PRODUCTS]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(
            lambda q: generator.run(q, [p.passage() for p in PRODUCTS[:2]], max_time_s=10.0),
            questions,
        ))

    alone = generator.run(questions[0], [p.passage() for p in PRODUCTS[:2]], max_time_s=10.0)
    assert all(r.text for r in results)
    assert results[0].text == alone.text  # greedy decoding is unaffected by concurrency


@pytest.mark.slow
def test_foreign_checkpoint_gets_a_config_fingerprint(trained: TrainReport, tmp_path: Path) -> None:
    foreign = tmp_path / "gpt2"
    shutil.copytree(trained.out_dir, foreign)
    (foreign / META_FILE).unlink()

    version = checkpoint_version(foreign)

    assert version.startswith("gpt2-") and version != trained.version
    assert Gpt2Generator(foreign).run("hi", ["Price £1.00."], max_time_s=5.0).text


def test_missing_checkpoint_is_not_ready(tmp_path: Path) -> None:
    generator = Gpt2Generator(tmp_path / "nothing")

    with pytest.raises(NotReady):
        generator.warm_up()
    with pytest.raises(NotReady):
        _ = generator.version


def test_broken_checkpoint_is_a_generation_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "n_embd": "lots"}')

    with pytest.raises(GenerationError):
        Gpt2Generator(tmp_path).warm_up()
