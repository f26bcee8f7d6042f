"""Catalogue import: a 10,000-item Merchant Center feed (XML and TSV), a 100-item change, answers meanwhile.

Writes a seeded feed built from the demo shop's product names crossed with colour and size
variants (harness/feeds.py), then, on this machine and in one run:
1. the encoder's own ceiling: the sync's encoder (SHOPBOT_INFERENCE_BACKEND, its threads) on
   2,000 of the feed's passages in the sync's chunks, in a child process;
2. the import of each form into a fresh var (the built models, an empty catalogue) by the real
   ``shopbot catalogue sync --json``: read, index and total seconds, items/s against the ceiling,
   the command's wall time and its peak resident memory (``wait4`` maxrss of that process alone);
3. a 100-item change (50 repriced, 30 sold out, 10 new, 10 removed) synced again: index update
   time, and whether only the changed passages were encoded;
4. the real server (``shopbot run``) on the demo catalogue and on the feed's, the same shopper
   messages (product searches and questions, one conversation each, sequentially) over Rasa's
   REST channel: p50/p95 and their ratio; then with SHOPBOT_CATALOGUE_SYNC_EVERY_S=2, the same
   messages while the unchanged feed is polled, and while the 100-item change is synced, with
   the time from the file's rewrite until the new price is answered.

    make bench                       # includes: python bench/catalogue.py --out docs/benchmarks.md
    python bench/catalogue.py --quick --out /tmp/catalogue.md
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving import percentile, tree_rss_mib  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.shop import load_products  # noqa: E402
from harness.feeds import Change, Item, changed_items, demo_names, shop_items, write_feed  # noqa: E402
from harness.sections import replace_section  # noqa: E402
from harness.server_process import SHOPBOT, ShopbotProcess  # noqa: E402

BEGIN, END = "<!-- catalogue: begin -->", "<!-- catalogue: end -->"
CEILING_TEXTS = 2000
THINGS = ["mug", "cushion cover", "t-light holder", "photo frame", "cake stand", "tea towel", "notebook",
          "lantern", "doormat", "water bottle", "wall clock", "gift bag", "bunting", "apron", "tote bag",
          "storage jar", "candle holder", "jigsaw", "egg cup", "key ring"]
SEARCHES = ["do you sell {t}s?", "show me {c} {t}s", "{t} under £10", "have you got a {m} {t}?",
            "i'm looking for a {t} as a present", "any {t}s in {c}?"]
QUESTIONS = ["how much is the {n}?", "is the {n} in stock?", "what is the {n} made of?",
             "what colours does the {n} come in?", "tell me about the {n}"]
COLOURS = ["red", "blue", "green", "pink", "ivory", "black"]
MATERIALS = ["glass", "ceramic", "wooden", "enamel", "cotton"]


def load() -> str:
    """The 1, 5 and 15 minute load averages (os.getloadavg)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# ---------------------------------------------------------------- the import, in child processes


def ceiling_child(feed: Path, var: Path, count: int) -> None:
    """(In a child.) The sync's encoder on ``count`` of the feed's passages: texts/s, as JSON."""
    from retrieval.catalogue.feed_source import MerchantFeed
    from retrieval.embeddings import sentence_encoder

    settings = Settings(var_dir=var)
    encoder = sentence_encoder(settings.inference_backend, settings.encoder_dir, settings.encoder_model,
                               settings.inference_threads)
    encoder.warm_up()
    encoder.encode(["warm up"] * 64)
    loaded = _rss_kib()
    # The first passages the sync encodes, in its order (sorted: neighbours pad alike).
    texts = sorted({p.passage() for p in MerchantFeed(str(feed)).read().products})[:count]
    start = time.perf_counter()
    for i in range(0, len(texts), 256):  # the sync's own chunks (retrieval/catalogue/sync.py)
        encoder.encode(texts[i:i + 256])
    took = time.perf_counter() - start
    print(json.dumps({"texts": len(texts), "seconds": took, "per_s": len(texts) / took,
                      "encoder": encoder.version, "threads": settings.inference_threads,
                      "loaded_mib": loaded / 1024}))


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child_json(argv: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
    """Run ``argv``; its last stdout line as JSON, its wall seconds and its own peak RSS (MiB)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=err, cwd=ROOT)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the bench's
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): "
                               f"{err.read().decode(errors='replace')[-3000:]}")
    lines = out.decode().strip().splitlines()
    return json.loads(lines[-1]), wall, usage.ru_maxrss / 1024


def feed_var(built: Path, var: Path) -> Path:
    """A var with the built models and routing index and no catalogue yet (as tests/bot/catalogue)."""
    var.mkdir(parents=True)
    for name in ("encoder", "generator", "generator-fast", "router"):
        (var / name).symlink_to(built / name, target_is_directory=True)
    (var / "index").mkdir()
    for path in (built / "index").glob("routing.*"):
        shutil.copy(path, var / "index" / path.name)
    (var / "shop").mkdir()
    for name in ("orders.json", "customers.json"):
        shutil.copy(built / "shop" / name, var / "shop" / name)
    return var


def sync(var: Path, feed: Path) -> tuple[dict[str, Any], float, float]:
    """``shopbot catalogue sync --json`` on ``var`` from ``feed``: report, wall s, peak MiB."""
    return child_json([str(SHOPBOT), "catalogue", "sync", "--json"],
                      {"SHOPBOT_VAR_DIR": str(var), "SHOPBOT_CATALOGUE_SOURCE": f"merchant-feed:{feed}",
                       "SHOPBOT_LOG_LEVEL": "WARNING"})


def passages(var: Path) -> set[str]:
    return {p.passage() for p in load_products(var / "shop")}


# ---------------------------------------------------------------- the shopper messages


def messages(items: Sequence[Item], n: int, seed: int) -> list[str]:
    """``n`` fixed-seed shopper messages: half product searches, half questions about a product of
    the demo shop that the feed also sells (named as the demo names it, without a variant)."""
    rng = random.Random(seed)
    names = sorted({str(item["title"]).split(", ")[0] for item in items if str(item["id"]).startswith("0")})
    out = []
    for i in range(n):
        if i % 2:
            out.append(rng.choice(QUESTIONS).format(n=rng.choice(names).lower()))
        else:
            out.append(rng.choice(SEARCHES).format(t=rng.choice(THINGS), c=rng.choice(COLOURS),
                                                   m=rng.choice(MATERIALS)))
    return out


async def turn(session: aiohttp.ClientSession, base: str, sender: str, text: str) -> tuple[float, str, bool]:
    """One REST turn: milliseconds, the reply's text, and whether it was a 200 with an answer."""
    start = time.perf_counter()
    body = {"sender": sender, "message": text}
    async with session.post(f"{base}/webhooks/rest/webhook", json=body) as resp:
        answer = await resp.json(content_type=None)
        ok = resp.status == 200 and bool(answer)
    ms = (time.perf_counter() - start) * 1000
    return ms, " ".join(m.get("text", "") for m in answer or [] if isinstance(m, dict)), ok


async def ask_all(base: str, texts: list[str], tag: str) -> tuple[list[float], int]:
    """Each message as a new conversation, sequentially, after 5 unmeasured ones."""
    async with aiohttp.ClientSession() as session:
        for i, text in enumerate(texts[:5]):
            await turn(session, base, f"{tag}-warm-{i}", text)
        out, errors = [], 0
        for i, text in enumerate(texts):
            ms, _, ok = await turn(session, base, f"{tag}-{i}", text)
            out.append(ms)
            errors += not ok
    return out, errors


async def serve(var: Path, tmp: Path, env: dict[str, str]) -> ShopbotProcess:
    tmp.mkdir(parents=True)
    server = ShopbotProcess(var, f"sqlite:///{tmp / 'turns.sqlite3'}",
                            {"SHOPBOT_JOURNAL_DIR": str(tmp / "journal"), **env})
    await server.start(timeout_s=300)
    return server


async def price_probe(base: str, items: Sequence[Item], change: Change) -> tuple[str, str, str] | None:
    """A repriced item whose price the bot answers by name now: (question, old price, new price)."""
    old = {str(i["id"]): i for i in items}
    async with aiohttp.ClientSession() as session:
        for k, code in enumerate(change.repriced[:25]):
            item = old[code]
            question = f"how much is the {str(item['title']).lower()}?"
            _, text, _ = await turn(session, base, f"probe-find-{k}", question)
            if f"£{float(str(item['price']).split()[0]):.2f}" in text:
                return question, f"£{float(str(item['price']).split()[0]):.2f}", code
    return None


async def during_sync(base: str, feed: Path, changed: Sequence[Item], probe: tuple[str, str, str],
                      texts: list[str], timeout_s: float = 300) -> tuple[list[float], float, int]:
    """Rewrite ``feed`` with ``changed``, then alternate shopper messages and the price question
    until the new price is answered: latencies of every turn, seconds until then, errors."""
    question, _, code = probe
    new = f"£{float(str(next(i for i in changed if i['id'] == code)['price']).split()[0]):.2f}"
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession() as session:
        written = time.monotonic()
        write_feed(feed, changed)
        i = 0
        while True:
            ms, _, ok = await turn(session, base, f"sync-{i}", texts[i % len(texts)])
            latencies.append(ms)
            errors += not ok
            ms, text, ok = await turn(session, base, f"probe-{i}", question)
            latencies.append(ms)
            errors += not ok
            if new in text:
                return latencies, time.monotonic() - written, errors
            if time.monotonic() - written > timeout_s:
                raise AssertionError(f"the new price {new} was not answered within {timeout_s} s: {text!r}")
            i += 1


# ---------------------------------------------------------------- the run


def run(n_items: int, n_messages: int, seed: int, tmp: Path) -> dict[str, Any]:
    """Every measurement; a dict for the section."""
    built = Settings().var_dir
    names = demo_names(built / "shop")
    out: dict[str, Any] = {"items": n_items, "messages": n_messages, "demo_products": len(names)}
    items = shop_items(names, n_items, seed)
    changed, change = changed_items(items, names)
    xml, tsv = write_feed(tmp / "feed.xml", items), write_feed(tmp / "feed.tsv", items)
    out["groups"] = len({i.get("item_group_id") for i in items if i.get("item_group_id")})
    out["out_of_stock"] = sum(i.get("availability") == "out_of_stock" for i in items)
    out["sizes_mib"] = {"xml": xml.stat().st_size / 2**20, "tsv": tsv.stat().st_size / 2**20}
    print(f"feed: {n_items} items, XML {out['sizes_mib']['xml']:.1f} MiB, "
          f"TSV {out['sizes_mib']['tsv']:.1f} MiB", flush=True)

    models = feed_var(built, tmp / "var-ceiling")
    argv = [sys.executable, __file__, "--ceiling-child", str(xml), str(models)]
    ceiling, _, ceiling_peak = child_json(argv, {})
    out["ceiling"] = {**ceiling, "peak_mib": ceiling_peak, "load": load()}
    print(f"ceiling: {ceiling['per_s']:.0f} texts/s  [load {load()}]", flush=True)

    imports = {}
    for form, feed in (("XML", xml), ("TSV", tsv)):
        var = feed_var(built, tmp / f"var-{form.lower()}")
        report, wall, peak = sync(var, feed)
        imports[form] = {**report, "wall_s": wall, "peak_mib": peak, "load": load()}
        print(f"import {form}: {report['total_s']:.1f} s, peak {peak:.0f} MiB  [load {load()}]", flush=True)
    out["imports"] = imports
    out["same_catalogue"] = imports["XML"]["version"] == imports["TSV"]["version"]

    var = tmp / "var-xml"
    before = passages(var)
    write_feed(tmp / "feed.xml", changed)
    report, wall, peak = sync(var, xml)
    out["update"] = {**report, "wall_s": wall, "peak_mib": peak, "load": load(),
                     "changed_passages": len(passages(var) - before)}
    print(f"update: {report['total_s']:.2f} s, {report['encoded']} encoded  [load {load()}]", flush=True)

    texts = messages(items, n_messages, seed)
    out["latency"] = asyncio.run(latency(built, tmp, tsv, items, changed, change, texts))
    out["sample"] = texts[:6]
    return out


async def latency(built: Path, tmp: Path, feed: Path, items: Sequence[Item], changed: Sequence[Item],
                  change: Change, texts: list[str]) -> dict[str, Any]:
    """The same messages on the demo catalogue and the feed's, then while the feed changes."""
    rows: dict[str, Any] = {}
    var = tmp / "var-tsv"
    source = {"SHOPBOT_CATALOGUE_SOURCE": f"merchant-feed:{feed}"}
    settings: tuple[tuple[str, Path, dict[str, str]], ...] = (
        ("demo", built, {}), ("feed", var, {**source, "SHOPBOT_CATALOGUE_SYNC_EVERY_S": "0"}))
    for label, where, env in settings:
        server = await serve(where, tmp / f"serve-{label}", env)
        try:
            lat, errors = await ask_all(server.base, texts, label)
            assert server.proc is not None
            rows[label] = {"lat": lat, "errors": errors, "rss": tree_rss_mib(server.proc.pid), "load": load()}
        finally:
            server.stop()
        print(f"{label}: p50 {percentile(lat, 50):.0f} ms  [load {load()}]", flush=True)
    server = await serve(var, tmp / "serve-polled", {**source, "SHOPBOT_CATALOGUE_SYNC_EVERY_S": "2"})
    try:
        lat, errors = await ask_all(server.base, texts, "polled")
        rows["polled"] = {"lat": lat, "errors": errors, "load": load()}
        probe = await price_probe(server.base, items, change)
        if probe is None:
            rows["syncing"] = None
        else:
            lat, seconds, errors = await during_sync(server.base, feed, changed, probe, texts)
            assert server.proc is not None
            rows["syncing"] = {"lat": lat, "errors": errors, "seconds": seconds, "probe": probe[0],
                               "rss": tree_rss_mib(server.proc.pid), "load": load()}
            print(f"new price answered {seconds:.1f} s after the rewrite  [load {load()}]", flush=True)
    finally:
        server.stop()
    return rows


# ---------------------------------------------------------------- the section


def section(r: dict[str, Any], argv: list[str], when: str) -> str:
    """The Markdown section for docs/benchmarks.md."""
    c, imp, up, lat = r["ceiling"], r["imports"], r["update"], r["latency"]
    lines = [
        BEGIN,
        "## Catalogue: a Merchant Center feed import",
        "",
        f"Measured {when} UTC on {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"shared with other work (load averages beside each figure). Command: `python {' '.join(argv)}` "
        f"(in `make bench`). The feed: {r['items']:,} items made with a fixed seed by harness/feeds.py "
        f"from the demo shop's {r['demo_products']:,} product names crossed with colour and size variants "
        f"({r['groups']:,} item groups, {r['out_of_stock']:,} out of stock with a date, descriptions of "
        f"about 470 characters in HTML), written as RSS 2.0 XML ({r['sizes_mib']['xml']:.1f} MiB) and TSV "
        f"({r['sizes_mib']['tsv']:.1f} MiB). Each import is the real `shopbot catalogue sync --json` into a "
        "fresh var with the built models and no catalogue; its peak memory is that process's own "
        "(`wait4` maxrss), model load included; its index time includes loading the encoder, which "
        "the fresh process does on its first encode (a running server's is loaded already).",
        "",
        f"The ceiling, measured first in the same run in a child process: the sync's own encoder "
        f"({c['encoder']}, {c['threads']} thread{'s' if c['threads'] != 1 else ''}, SHOPBOT_INFERENCE_*) on "
        f"the first {c['texts']:,} passages the sync encodes, in its order and chunks of 256: "
        f"**{c['per_s']:.0f} passages/s** "
        f"(load {c['load']}); that process held {c['loaded_mib']:.0f} MiB with the encoder loaded.",
        "",
        "| sync | products | read s | index (encode) s | total s | items/s (total) | encoded/s ÷ ceiling "
        "| command wall s | peak RSS MiB | load average |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for form, x in imp.items():
        lines.append(f"| import {form}, {x['encoded']:,} encoded | {x['products']:,} | {x['read_s']:.2f} | "
                     f"{x['index_s']:.2f} | {x['total_s']:.2f} | {x['products'] / x['total_s']:.0f} | "
                     f"{x['encoded'] / x['index_s'] / c['per_s']:.2f} × | "
                     f"{x['wall_s']:.1f} | {x['peak_mib']:.0f} | {x['load']} |")
    only = "yes" if up["encoded"] == up["changed_passages"] else "**no**"
    same = "yes" if r["same_catalogue"] else "**no**"
    up_rate = up["encoded"] / up["index_s"] / c["per_s"] if up["index_s"] else 0.0
    lines += [
        f"| 100-item change (XML): +{up['added']} added, {up['changed']} changed ({up['repriced']} "
        f"repriced), {up['removed']} removed; {up['encoded']} encoded | {up['products']:,} | "
        f"{up['read_s']:.2f} | {up['index_s']:.2f} | {up['total_s']:.2f} | – | {up_rate:.2f} × | "
        f"{up['wall_s']:.1f} | {up['peak_mib']:.0f} | {up['load']} |",
        "",
        f"XML and TSV give the same catalogue (same index version): {same}. "
        f"The change re-encoded only the passages that changed ({up['changed_passages']} new passages: the "
        f"repriced and the new items; a product's passage carries its price, not its availability): {only}.",
        "",
        f"Answer latency: the real server (`shopbot run`, default settings, a throwaway SQLite turn log), "
        f"{r['messages']} shopper messages (half product searches, half questions about a product by its "
        f"demo name, e.g. \"{r['sample'][0]}\", \"{r['sample'][1]}\"), each a new conversation, sent one "
        "after another over Rasa's REST channel after 5 unmeasured ones. The same messages for each row; "
        "while syncing, each shopper message is followed by the price question (its turns are the "
        "\"questions\" column there).",
        "",
        "| server | turns | p50 ms | p95 ms | p50 ÷ demo | p95 ÷ demo | searches p50 / p95 "
        "| questions p50 / p95 | errors | RSS MiB | load average |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    base = lat["demo"]["lat"]
    labels = {
        "demo": f"demo catalogue ({r['demo_products']:,} products)",
        "feed": f"feed catalogue ({imp['TSV']['products']:,} products), no scheduled sync",
        "polled": "feed catalogue, SHOPBOT_CATALOGUE_SYNC_EVERY_S=2, feed unchanged",
        "syncing": "feed catalogue, SYNC_EVERY_S=2, from the 100-item rewrite to its new price answered",
    }
    for key, label in labels.items():
        row = lat.get(key)
        if row is None:
            lines.append(f"| {label} | {' | '.join('–' * 9)} | (no repriced item answered by name) |")
            continue
        v = row["lat"]
        rss = f"{row['rss']:.0f}" if "rss" in row else "–"
        lines.append(f"| {label} | {len(v)} | {percentile(v, 50):.0f} | {percentile(v, 95):.0f} | "
                     f"{percentile(v, 50) / percentile(base, 50):.2f} × | "
                     f"{percentile(v, 95) / percentile(base, 95):.2f} × | {_kind(v, 0)} | {_kind(v, 1)} | "
                     f"{row['errors']} | {rss} | "
                     f"{row['load']} |")
    if lat.get("syncing"):
        s = lat["syncing"]
        lines += ["", "From the feed file's rewrite (100 items changed) to the first answer with the new "
                      f"price (\"{s['probe']}\", asked after each message): **{s['seconds']:.1f} s** "
                      f"(load {s['load']}): the 2 s schedule, the read of the whole feed, the encode of the "
                      "changed passages, the write, and the worker's swap."]
    lines += ["", "The index time of the change includes loading the saved index and the encoder; its total "
              "also loading the served catalogue to compare and writing the catalogue and index whole. "
              "With SHOPBOT_CATALOGUE_SYNC_EVERY_S=2 (the default is 30 s) a feed file unchanged since the "
              "last sync (size and modification time) is not read again; while a sync runs, its parsing "
              "shares the interpreter with the turns (the sync's thread runs at a lower CPU priority, "
              "but Python's GIL is one), which is what the p95 of that row pays.", "", END]
    return "\n".join(lines) + "\n"


def _kind(latencies: list[float], odd: int) -> str:
    """p50 / p95 of the searches (even turns) or the questions (odd turns; the price question
    while syncing)."""
    v = latencies[odd::2]
    return f"{percentile(v, 50):.0f} / {percentile(v, 95):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="items in the feed")
    parser.add_argument("--messages", type=int, default=100, help="shopper messages per latency run")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 500 items, 20 messages")
    parser.add_argument("--seed", type=int, default=27)
    parser.add_argument("--out", type=Path, help="write the section into this Markdown file")
    parser.add_argument("--json", type=Path, help="also save the raw figures here")
    parser.add_argument("--ceiling-child", nargs=2, metavar=("FEED", "VAR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.ceiling_child:
        ceiling_child(Path(args.ceiling_child[0]), Path(args.ceiling_child[1]), CEILING_TEXTS)
        return
    if args.quick:
        args.items, args.messages = min(args.items, 500), min(args.messages, 20)
    when = f"{datetime.now(UTC):%Y-%m-%d %H:%M}"
    with tempfile.TemporaryDirectory(prefix="sb-catalogue-") as tmp:
        figures = run(args.items, args.messages, args.seed, Path(tmp))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    text = section(figures, ["bench/catalogue.py", *sys.argv[1:]], when)
    if args.out:
        replace_section(args.out, text, BEGIN, END)
    print(text)
    print(f"bench process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
