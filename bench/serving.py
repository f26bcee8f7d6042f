"""Serving speed against the hardware's own ceiling, in one run: ``make bench`` writes docs/benchmarks.md.

Measures, in this order and on this machine:
1. the ceiling: one PyTorch all-MiniLM-L6-v2 encode (sentence-transformers, all cores), single
   and batched 64 at a time;
2. the real server (``shopbot run``, default settings, a throwaway SQLite turn log and journal)
   over Rasa's REST channel with FAQ questions that are not in the knowledge: 1 session
   (p50/p95), 64 closed-loop sessions (turns/s, p50/p95/p99), then an open-loop Poisson load at
   half the measured capacity (p95, timed from each request's scheduled send so that a slow
   server cannot hide its queue), per-route latency, errors and resident memory; once per
   router profile (``--profiles``, default ``fast,accurate``: ``SHOPBOT_ROUTER_PROFILE``), with
   the accurate profile's ratios to the ceiling and to the fast profile
   (harness/serving_profiles.py; it runs the accurate profile's ``shopbot setup`` if needed);
3. GPT-2: ms/token of a GPT-2-124M-shaped model (``GPT2Config()``, random weights) on PyTorch
   fp32 ``generate`` with its KV cache and on the int8 ONNX path, and the same for the shop's
   own checkpoint.
Every figure is printed with the command and the load average around it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.polling import until  # noqa: E402
from harness.sections import replace_section  # noqa: E402
from harness.serving_profiles import ACCURATE_TARGETS, Profile, measure_profiles, parse_profiles  # noqa: E402

# Paraphrases of the demo FAQ that appear nowhere in its phrasings (checked at start).
UNSEEN_FAQ = [
    "how long will shipping take to me?",
    "can i send something back if i dont like it",
    "which cards do you take",
    "do you deliver to france",
    "is there a discount for big orders",
    "how do i change my delivery address",
    "what happens if my parcel arrives broken",
    "is paypal ok for paying",
    "how much is postage to ireland",
    "when will i get my refund",
    "is it possible to cancel what i ordered",
    "do you have a phone number i can ring",
]
ROUTES = {
    "faq": UNSEEN_FAQ[:4],
    "products": ["do you sell cookie jars?", "gifts under £5", "show me christmas decorations"],
    "recommend": ["recommend something", "any gift ideas?"],
    "generate": ["is the glass cookie jar good for storing biscuits?"],
    "decline": ["what's the weather in Paris", "who won the football last night?"],
}


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Report:
    """Rows of the Markdown report, each with its command and load average."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)

    def add(self, what: str, value: str, command: str, key: str = "", number: float = 0.0) -> None:
        self.rows.append((what, value, command, load()))
        if key:
            self.numbers[key] = number
        print(f"{what}: {value}   [{command}; load {load()}]", flush=True)


# ---------------------------------------------------------------- the encoder ceiling


def encoder_ceiling(report: Report, texts: list[str]) -> None:
    """PyTorch sentence-transformers MiniLM-L6: single encode and batched-64 throughput."""
    import torch
    from sentence_transformers import SentenceTransformer

    from retrieval.embeddings import bundled_model_path

    torch.set_num_threads(os.cpu_count() or 1)
    model = SentenceTransformer(str(bundled_model_path()), device="cpu")
    batch = (texts * 64)[:64]
    for _ in range(5):
        model.encode(texts[:1])
        model.encode(batch, batch_size=64)
    singles = []
    for i in range(300):
        start = time.perf_counter()
        model.encode([texts[i % len(texts)]], batch_size=1)
        singles.append((time.perf_counter() - start) * 1000)
    rounds, start = 20, time.perf_counter()
    for _ in range(rounds):
        model.encode(batch, batch_size=64)
    per_s = rounds * 64 / (time.perf_counter() - start)
    cmd = (f"sentence-transformers all-MiniLM-L6-v2, torch {torch.__version__}, "
           f"{torch.get_num_threads()} threads")
    report.add("PyTorch single encode, p50", f"{statistics.median(singles):.2f} ms", cmd,
               "single_ms", statistics.median(singles))
    report.add("PyTorch batched encode (64 per batch)", f"{per_s:.0f} encodes/s ({1000 / per_s:.2f} ms each)",
               cmd, "ceiling", per_s)
    del model


# ---------------------------------------------------------------- the server


def context_step(report: Report) -> None:
    """The context step's own time per message (bot/engine/context.py), on the development
    conversations' follow-ups, each read after a search, a product and an FAQ answer."""
    import json

    from bot.engine.context import ContextReader, search_of
    from bot.engine.interfaces import Slots
    from bot.engine.nlu import extract
    from core.shop import load_products
    from retrieval.knowledge import load_knowledge

    products = {p.stock_code: p for p in load_products(ROOT / "var" / "shop")}
    reader = ContextReader(products, {e.id: e for e in load_knowledge(ROOT / "data" / "faq.yml")})
    lines = (ROOT / "data" / "eval" / "conversations_dev.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [turn["say"] for line in lines for turn in json.loads(line)["turns"][1:]]
    mugs = tuple(c for c, p in products.items() if "mug" in p.name.lower())[:6]
    states = (
        Slots(turns=1, shown_products=mugs, last_product=mugs[0], topic="products",
              search=search_of("show me mugs", extract("show me mugs"))),
        Slots(turns=1, shown_products=mugs[:1], last_product=mugs[0], topic="product", aspect="price"),
        Slots(turns=1, topic="faq", faq_topic="returns"),
    )
    took = []
    for _ in range(5):
        for state in states:
            for text in texts:
                found = extract(text)
                start = time.perf_counter()
                reader.read(text, state, found)
                took.append((time.perf_counter() - start) * 1000)
    report.add("context step (reading a message in its conversation), p50 / p95",
               f"{percentile(took, 50):.3f} / {percentile(took, 95):.3f} ms",
               f"ContextReader.read on {len(texts)} follow-ups × 3 states × 5, in-process",
               "context_p50", percentile(took, 50))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants."""
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                todo += [int(c) for c in children]
        except OSError:
            continue
    return total


class Client:
    """Rasa REST turns against one server, counting every non-200 or empty answer and its cause."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.errors = 0
        self.causes: Counter[str] = Counter()

    async def turn(self, session: aiohttp.ClientSession, sender: str, text: str) -> float:
        start = time.perf_counter()
        try:
            async with session.post(self.url, json={"sender": sender, "message": text}) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200 or not body:
                    self.errors += 1
                    self.causes[f"HTTP {resp.status}" if resp.status != 200 else "empty answer"] += 1
        except (aiohttp.ClientError, ValueError) as err:
            self.errors += 1
            self.causes[type(err).__name__] += 1
        return (time.perf_counter() - start) * 1000


async def one_session(client: Client, n: int) -> list[float]:
    async with aiohttp.ClientSession() as session:
        for i in range(20):
            await client.turn(session, f"warm-{i}", UNSEEN_FAQ[i % len(UNSEEN_FAQ)])
        return [await client.turn(session, f"one-{i}", UNSEEN_FAQ[i % len(UNSEEN_FAQ)]) for i in range(n)]


async def closed_loop(client: Client, sessions: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def shopper(i: int, session: aiohttp.ClientSession) -> None:
        j = 0
        while time.perf_counter() < stop_at:
            latencies.append(await client.turn(session, f"c{i}-{j}", UNSEEN_FAQ[(i + j) % len(UNSEEN_FAQ)]))
            j += 1

    conn = aiohttp.TCPConnector(limit=sessions)
    async with aiohttp.ClientSession(connector=conn) as session:
        start = time.perf_counter()
        await asyncio.gather(*(shopper(i, session) for i in range(sessions)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


async def open_loop(client: Client, rate: float, seconds: float) -> tuple[float, list[float]]:
    """Poisson arrivals at ``rate``/s; latency counts from the scheduled send time."""
    rng = random.Random(7)
    latencies: list[float] = []
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        start = time.perf_counter()
        tasks, at, i = [], 0.0, 0

        async def fire(when: float, k: int) -> None:
            await asyncio.sleep(max(0.0, start + when - time.perf_counter()))
            await client.turn(session, f"o{k}", UNSEEN_FAQ[k % len(UNSEEN_FAQ)])
            latencies.append((time.perf_counter() - start - when) * 1000)

        while at < seconds:
            tasks.append(asyncio.create_task(fire(at, i)))
            at += rng.expovariate(rate)
            i += 1
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


async def per_route(client: Client, n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    async with aiohttp.ClientSession() as session:
        for route, texts in ROUTES.items():
            await client.turn(session, f"warm-{route}", texts[0])
            out[route] = [await client.turn(session, f"{route}-{i}", texts[i % len(texts)]) for i in range(n)]
    return out


async def wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 300) -> None:
    async with aiohttp.ClientSession() as session:

        async def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            async with session.get(f"{base}/health/ready") as resp:
                return resp.status == 200

        await until(ready, timeout_s=timeout, interval_s=0.5, what="the server to be ready",
                    ignoring=(aiohttp.ClientError,))


async def served_versions(base: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as session, session.get(f"{base}/health") as resp:
        return dict((await resp.json())["versions"])


async def serve_and_measure(report: Report, args: argparse.Namespace, tmp: Path, profile: Profile) -> None:
    """One router profile's server, its own throwaway turn log and journal, every figure."""
    tmp = tmp / profile.name
    tmp.mkdir()
    key, what = profile.key, profile.what
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, **profile.env, "SHOPBOT_PORT": str(port),
           "SHOPBOT_DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
           "SHOPBOT_JOURNAL_DIR": str(tmp / "journal"), "SHOPBOT_LOG_LEVEL": "WARNING"}
    run = [str(Path(sys.executable).parent / "shopbot"), "run"]
    redis = None
    if args.workers > 1:
        redis_port = free_port()
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "",
                                  "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL)
        env["SHOPBOT_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        run += ["--workers", str(args.workers)]
    cmd = " ".join([profile.command, *run[2:]])
    server = subprocess.Popen(run, env=env, cwd=ROOT)
    try:
        await wait_ready(base, server)
        versions = await served_versions(base)
        profile.check_served(versions)
        report.add(what("router served"), f"`{versions.get('router', '?')}`", f"{cmd}; GET /health")
        client = Client(f"{base}/webhooks/rest/webhook")
        one = await one_session(client, args.turns)
        report.add(what("1 session, FAQ turn p50 / p95"),
                   f"{percentile(one, 50):.2f} / {percentile(one, 95):.2f} ms",
                   f"{cmd}; {args.turns} sequential REST turns", key("one_p50"), percentile(one, 50))
        report.numbers[key("one_p95")] = percentile(one, 95)
        rate, many = await closed_loop(client, 64, args.seconds)
        report.add(what("64 closed-loop sessions, FAQ turns/s"), f"{rate:.0f} turns/s",
                   f"{cmd}; 64 sessions for {args.seconds:.0f} s", key("turns_s"), rate)
        report.add(what("64 sessions, p50 / p95 / p99"),
                   f"{percentile(many, 50):.1f} / {percentile(many, 95):.1f} / {percentile(many, 99):.1f} ms",
                   f"same run ({len(many)} turns)", key("many_p95"), percentile(many, 95))
        offered = rate / 2
        got, opened = await open_loop(client, offered, args.seconds)
        report.add(what("open loop at half capacity, p50 / p95"),
                   f"{percentile(opened, 50):.1f} / {percentile(opened, 95):.1f} ms",
                   f"{cmd}; Poisson arrivals at {offered:.0f}/s for {args.seconds:.0f} s "
                   f"({len(opened)} turns, {got:.0f}/s served)", key("open_p95"), percentile(opened, 95))
        routes = await per_route(client, args.route_turns)
        for route, values in routes.items():
            report.add(what(f"route `{route}`, p50 / p95"),
                       f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f} ms",
                       f"{cmd}; {args.route_turns} sequential turns")
        # The causes, when there are any: a count alone cannot tell a server fault from a client one.
        causes = ", ".join(f"{name} × {n}" for name, n in client.causes.most_common())
        report.add(what("errors (non-200 or empty answer), all runs above"),
                   f"{client.errors} ({causes})" if causes else str(client.errors), cmd,
                   key("errors"), client.errors)
        rss = tree_rss_mib(server.pid)
        report.add(what("resident memory, whole bot (all processes)"), f"{rss:.0f} MiB",
                   f"{cmd}; after the runs", key("rss"), rss)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if redis is not None:
            redis.terminate()
            redis.wait(10)


# ---------------------------------------------------------------- GPT-2


def random_gpt2(target: Path) -> Path:
    """A GPT-2-124M-shaped checkpoint with random weights and GPT-2's vocabulary size."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    config = GPT2Config()
    GPT2LMHeadModel(config).eval().save_pretrained(target)
    vocab = {f"t{i}": i for i in range(config.vocab_size - 1)} | {"<|endoftext|>": config.vocab_size - 1}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                            unk_token="<|endoftext|>").save_pretrained(target)
    return target


def torch_ms_per_token(model_dir: Path, prompt: list[int], new: int, threads: int) -> float:
    """Greedy ``generate`` with its KV cache: (time for ``new`` tokens - prefill) / (new - 1)."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.set_num_threads(threads)
    model = GPT2LMHeadModel.from_pretrained(model_dir).eval()
    ids = torch.tensor([prompt])

    def gen(n: int) -> float:
        start = time.perf_counter()
        with torch.inference_mode():
            model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                           do_sample=False, pad_token_id=0)
        return time.perf_counter() - start

    gen(4)
    best = min(((gen(new) - gen(1)) / (new - 1)) for _ in range(3))
    return best * 1000


def onnx_ms_per_token(model_dir: Path, cache: Path, prompt: list[int], new: int, threads: int) -> float:
    from bot.generation.fast import OnnxGpt2Generator

    generator = OnnxGpt2Generator(model_dir, cache, threads=threads)
    generator.warm_up()
    generator.decode_speed(prompt, 4)
    return min(generator.decode_speed(prompt, new)[1] for _ in range(3))


def gpt2(report: Report, tmp: Path, shop_model: Path) -> None:
    new = 64
    big = random_gpt2(tmp / "gpt2-124m")
    prompt = [random.Random(1).randrange(50000) for _ in range(128)]
    what = f"greedy, {len(prompt)}-token prompt, {new} new tokens, best of 3"
    for threads in (1, 2):
        ms = torch_ms_per_token(big, prompt, new, threads)
        report.add(f"GPT-2-124M PyTorch fp32 (KV cache), {threads} thread(s)", f"{ms:.1f} ms/token",
                   f"transformers generate, {what}", f"gpt2_torch_{threads}", ms)
        ms = onnx_ms_per_token(big, tmp / "gpt2-fast", prompt, new, threads)
        report.add(f"GPT-2-124M ONNX int8 (KV cache), {threads} thread(s)", f"{ms:.1f} ms/token",
                   f"OnnxGpt2Generator.decode_speed, {what}", f"gpt2_onnx_{threads}", ms)
    if (shop_model / "config.json").is_file():
        from transformers import GPT2Config

        positions = GPT2Config.from_pretrained(shop_model).n_positions
        short = prompt[: max(8, positions - new - 1)]
        short = [t % 1000 for t in short]
        what = f"greedy, {len(short)}-token prompt, {new} new tokens, best of 3"
        ms = torch_ms_per_token(shop_model, short, new, 1)
        report.add("shop's GPT-2 PyTorch fp32, 1 thread", f"{ms:.2f} ms/token",
                   f"transformers generate, {what}")
        ms = onnx_ms_per_token(shop_model, tmp / "shop-fast", short, new, 1)
        report.add("shop's GPT-2 ONNX int8 (as served), 1 thread", f"{ms:.2f} ms/token",
                   f"OnnxGpt2Generator.decode_speed, {what}")


# ---------------------------------------------------------------- the report


TARGETS: list[tuple[str, Callable[[dict[str, float]], tuple[str, bool]]]] = [
    ("`fast` profile: 64 sessions ≥ 300 turns/s", lambda n: (f"{n['turns_s']:.0f}", n["turns_s"] >= 300)),
    ("`fast` profile: 64 sessions ≥ 0.75 × PyTorch batched ceiling",
     lambda n: (f"{n['turns_s'] / n['ceiling']:.2f} ×", n["turns_s"] >= 0.75 * n["ceiling"])),
    ("`fast` profile: 1 session p50 ≤ 8 ms", lambda n: (f"{n['one_p50']:.2f} ms", n["one_p50"] <= 8)),
    ("context step p50 ≤ 2 ms per message", lambda n: (f"{n['context_p50']:.3f} ms", n["context_p50"] <= 2)),
    ("`fast` profile: 1 session p50 ≤ 0.8 × one PyTorch single encode",
     lambda n: (f"{n['one_p50'] / n['single_ms']:.2f} ×", n["one_p50"] <= 0.8 * n["single_ms"])),
    ("`fast` profile: open loop at half capacity p95 ≤ 50 ms",
     lambda n: (f"{n['open_p95']:.1f} ms", n["open_p95"] <= 50)),
    ("GPT-2-124M ≤ 10 ms/token greedy on 2 cores",
     lambda n: (f"{n['gpt2_onnx_2']:.1f} ms", n["gpt2_onnx_2"] <= 10)),
    ("`fast` profile: zero errors", lambda n: (f"{n['errors']:.0f}", n["errors"] == 0)),
    ("`fast` profile: resident memory ≤ 1.5 GB", lambda n: (f"{n['rss']:.0f} MiB", n["rss"] <= 1536)),
    *ACCURATE_TARGETS,
]


BEGIN = "<!-- bench/serving.py: begin -->"
END = "<!-- bench/serving.py: end -->"


def markdown(report: Report, argv: list[str], started: str) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    lines = [
        "# Benchmarks",
        "",
        f"Measured {started} UTC by `make bench` (`python {' '.join(argv)}`) on {os.cpu_count()} cores "
        f"({cpu}), Python {platform.python_version()}; client and server share the cores, latencies are "
        "client-side over loopback HTTP. Every row carries the command and the load average "
        "(1/5/15 min) at the moment it was measured; the machine is shared, so compare ratios "
        "within this one run.",
        "",
        "## Targets",
        "",
        "| target | this run | met |",
        "| --- | ---: | :-: |",
    ]
    for name, fn in TARGETS:
        try:
            value, ok = fn(report.numbers)
        except KeyError:
            value, ok = "not measured", False
        lines.append(f"| {name} | {value} | {'yes' if ok else '**no**'} |")
    lines += ["", "## Figures", "", "| what | value | command | load avg |", "| --- | ---: | --- | --- |"]
    lines += [f"| {w} | {v} | {c} | {la} |" for w, v, c, la in report.rows]
    lines += ["", "Reproduce: `make bench`, or `.venv/bin/python bench/serving.py --out docs/benchmarks.md` "
              "(`--workers 2` to measure two worker processes with a throwaway Redis; "
              "`--profiles fast` to serve only the fast router profile).", ""]
    return "\n".join(lines)


def check_unseen() -> None:
    """The FAQ questions must not be phrasings the router trained on."""
    from retrieval.knowledge import load_knowledge

    known = {p.lower().strip() for e in load_knowledge(ROOT / "data" / "faq.yml") for p in e.questions}
    seen = [q for q in UNSEEN_FAQ if q.lower().strip() in known]
    if seen:
        raise SystemExit(f"these bench questions are in the knowledge: {seen}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    parser.add_argument("--turns", type=int, default=400, help="sequential turns at 1 session")
    parser.add_argument("--route-turns", type=int, default=20, help="sequential turns per route")
    parser.add_argument("--seconds", type=float, default=20, help="length of each load run")
    parser.add_argument("--workers", type=int, default=0, help="pass --workers N to shopbot run")
    parser.add_argument("--skip-gpt2", action="store_true", help="leave out the GPT-2 figures")
    parser.add_argument("--profiles", type=parse_profiles, default="fast,accurate",
                        help="router profiles to serve and measure, one server each (default: fast,accurate)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    check_unseen()
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    report = Report()
    encoder_ceiling(report, UNSEEN_FAQ)
    context_step(report)
    with tempfile.TemporaryDirectory(prefix="shopbot-bench-") as tmp:
        measured = measure_profiles(
            report, args.profiles, ROOT,
            lambda profile: asyncio.run(serve_and_measure(report, args, Path(tmp), profile)))
        if not args.skip_gpt2:
            gpt2(report, Path(tmp), ROOT / "var" / "generator")
    text = markdown(report, sys.argv, started)
    if args.out:
        # Only this bench's own part of the file: the sections other benches and people wrote stay.
        replace_section(args.out, f"{BEGIN}\n{text}{END}\n", BEGIN, END)
    print(text)
    if not measured:
        sys.exit("not every router profile was measured: see the rows above")


if __name__ == "__main__":
    main()
