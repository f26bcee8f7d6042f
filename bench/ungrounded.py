"""The `ungrounded` flag against a person's labels, on GPT-2's drafts of realistic product answers.

    python bench/ungrounded.py make --out data/eval/generated_answers.jsonl   # ask, regenerate, keep labels
    python bench/ungrounded.py score data/eval/generated_answers.jsonl        # current verifier and flag rule

``make`` writes realistic shopper questions from the catalogue with a fixed seed (product
questions naming a product loosely or not at all, follow-ups asked alone in a fresh
conversation, the README's demo question, the issue's), starts the server from the current
checkout (or ``--repo``) on the built ``var/``, sends each as a new conversation over Rasa's
REST channel and keeps the turns answered by GPT-2 on the top product passages (route
``generate``, more than one passage: a question about a product named in full is answered from
that product's facts by ``answer_about`` instead). It then asks the served generator (the same
checkpoint and backend, greedy decoding) for the draft of each kept turn on the turn log's
question and passages, so a withheld draft is in the sample too; a sent draft must come out
identical. Labels already in ``--out`` are kept for rows whose question, passages and draft are
unchanged; new rows get ``label: null``. Each row's ``split`` (dev or test) is a hash of its
question, fixed before any tuning.

``score`` judges every saved draft with the current verifier (``bot.generation.grounded``) and
flag rule (``monitoring.flags.flags_of`` on the facts the handler reports), and prints the
``ungrounded`` flag's precision and recall against the labels per split ("unsupported" is the
positive class). The labelling guideline is in docs/quality.md ("Generated answers: verified or
withheld").
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.generation.verifier import unsupported_claims, verify  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.turns import Flag, Route  # noqa: E402
from monitoring.flags import FlagThresholds, TurnFacts, flags_of, grounding  # noqa: E402

SAMPLE = ROOT / "data" / "eval" / "generated_answers.jsonl"
LABELS = ("supported", "unsupported")
# Where the turn log keeps a draft the verifier withheld (bot/engine/pipeline.py).
WITHHELD_KEY = "withheld_draft"

# What shoppers call things (the catalogue's own nouns), and words they narrow with.
THINGS = ["t-light holder", "cushion cover", "metal sign", "water bottle", "wall clock", "key ring",
          "photo frame", "cake cases", "bag charm", "birthday card", "luggage tag", "soft toy",
          "trinket box", "passport cover", "gift box", "gift wrap", "felt heart", "earrings",
          "paper garland", "gift bag", "egg cup", "tote bag", "drawer knob", "candle holder",
          "sewing kit", "shoulder bag", "paper napkins", "storage jar", "money bank",
          "chopping board", "compact mirror", "mug", "soap dish", "picnic bag", "picture frame",
          "coat rack", "kitchen scales", "garden thermometer", "cookie jar", "lunch bag", "doormat",
          "cake stand", "teacup and saucer", "bracelet", "necklace", "notebook", "bunting",
          "jam jar", "clock", "lantern", "apron", "hot water bottle", "hand warmer", "jigsaw",
          "pencil case", "ribbon", "tea towel", "cake tin", "bird house", "wreath"]
COLOURS = ["red", "blue", "pink", "white", "green", "black", "ivory", "gold", "silver"]
MATERIALS = ["glass", "wooden", "ceramic", "metal", "zinc", "cotton", "enamel", "paper"]
USES = ["biscuits", "storing biscuits", "a birthday present", "a wedding", "my kitchen", "a child",
        "the garden", "christmas", "everyday use", "a teacher", "travelling", "a baby shower"]
COUNTRIES = ["France", "Germany", "Australia", "the USA", "Spain", "Ireland", "Japan", "Norway"]
# A question about one thing, loosely named ({t}: a thing, {c}: colour, {m}: material, ...).
LOOSE = {
    "about": ["tell me about the {t}", "what is the {c} {t} like?", "what can you tell me about the {t}",
              "which range is the {t} in?", "what's the stock code of the {t}?", "is the {t} a good gift?"],
    "price": ["how much is the {t}?", "what does a {t} cost", "is the {c} {t} expensive?",
              "how much are your {t}s", "whats the price of the {m} {t}"],
    "colour": ["what colour is the {t}?", "does the {t} come in {c}?", "is the {t} available in {c}",
               "what colours does the {m} {t} come in"],
    "material": ["what is the {t} made of?", "is the {t} {m}?", "is the {c} {t} glass or plastic",
                 "what material is the {c} {t}"],
    "pack": ["how many come in a pack of {t}s?", "is the {t} sold individually", "can I buy just one {t}?"],
    "popularity": ["is the {t} popular?", "do people buy the {c} {t} much", "is the {m} {t} a best seller?"],
    "shipping": ["can you ship the {t} to {x}?", "do you deliver the {c} {t} to {x}",
                 "will the {t} arrive in {x}?"],
    "fit": ["is the {t} good for {u}?", "would the {c} {t} suit {u}", "is the {m} {t} good for {u}?",
            "is the {t} dishwasher safe?", "how big is the {t}?", "is the {c} {t} waterproof",
            "does the {t} need batteries?", "is the {t} sturdy"],
    "bought_with": ["what goes with the {t}?", "what should I get with the {c} {t}"],
}
# Follow-ups a shopper sends after cards or an answer, here asked alone in a fresh conversation.
ALONE = ["how much is that first {t}?", "how much is the second {t}?", "no, I meant {c}",
         "no, the {c} one", "and in {c}?", "what about the {m} one?", "is the last {t} {m}?",
         "the {c} {t}, how much?", "is that {t} any good?", "which {t} is cheaper?",
         "what's the first {t} made of?", "does the {c} {t} come in {c2}?"]
# Quoted in issue 26 and the README's demo table.
FIXED = ["how much is that first clock?", "no, I meant blue", "is the glass cookie jar good for biscuits?",
         "is the glass cookie jar good for storing biscuits?"]


def questions(n_loose: int, n_alone: int, seed: int) -> list[dict[str, str]]:
    """Fixed-seed questions: ``n_loose`` about a loosely named thing, ``n_alone`` follow-ups."""
    rng = random.Random(seed)

    def fill(template: str) -> str:
        c, c2 = rng.sample(COLOURS, 2)
        return template.format(t=rng.choice(THINGS), c=c, c2=c2, m=rng.choice(MATERIALS),
                               u=rng.choice(USES), x=rng.choice(COUNTRIES))

    out = [{"question": q, "kind": "quoted"} for q in FIXED]
    for _ in range(n_loose):
        aspect = rng.choice(sorted(LOOSE))
        out.append({"question": fill(rng.choice(LOOSE[aspect])), "kind": f"loose:{aspect}"})
    out += [{"question": fill(rng.choice(ALONE)), "kind": "follow-up alone"} for _ in range(n_alone)]
    seen: set[str] = set()
    return [q for q in out if not (q["question"] in seen or seen.add(q["question"]))]  # type: ignore[func-returns-value]


def split_of(question: str) -> str:
    """dev or test, from the question alone (fixed before tuning)."""
    return "dev" if hashlib.sha256(question.encode()).digest()[0] % 2 == 0 else "test"


def row_key(row: dict[str, Any]) -> str:
    """What a label is about: the question, the passages and the draft."""
    blob = json.dumps([row["question"], row["passages"], row["draft"]], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


async def ask_all(base: str, asked: list[dict[str, str]]) -> list[dict[str, Any]]:
    out = []
    async with aiohttp.ClientSession() as session:
        for i, case in enumerate(asked):
            sender = f"ug-{i}"
            async with session.post(f"{base}/webhooks/rest/webhook",
                                    json={"sender": sender, "message": case["question"]}) as resp:
                body = await resp.json()
            out.append({**case, "sender": sender, "status": resp.status, "reply": body})
    return out


def serve_and_ask(asked: list[dict[str, str]], repo: Path, var: Path | None) -> list[dict[str, Any]]:
    """Each question as a new conversation to a fresh server; its turn log row joined in."""
    from harness.polling import until_sync
    from harness.server_process import ShopbotProcess

    with tempfile.TemporaryDirectory(prefix="shopbot-ug-") as tmp:
        db = Path(tmp) / "turns.sqlite3"
        server = ShopbotProcess(var or repo / "var", f"sqlite:///{db}",
                                {"SHOPBOT_JOURNAL_DIR": str(Path(tmp) / "journal"), "PYTHONPATH": str(repo)})
        asyncio.run(server.start())
        try:
            answered = asyncio.run(ask_all(server.base, asked))

            def logged() -> dict[str, tuple[Any, ...]] | None:
                rows = {r[0]: r[1:] for r in sqlite3.connect(db).execute(
                    "select conversation_id, route, flags, meta, versions from turns")}
                return rows if len(rows) >= len(answered) else None

            # The turn log is written behind the answers (through the journal): wait for every row.
            log = until_sync(logged, timeout_s=60, what="every turn in the turn log",
                             ignoring=(sqlite3.OperationalError,))
        finally:
            server.stop()
    out = []
    for r in answered:
        route, flags, meta, versions = log.get(r["sender"], ("?", "[]", "{}", "{}"))
        out.append({**r, "route": route, "flags": json.loads(flags), "meta": json.loads(meta),
                    "versions": json.loads(versions)})
    return out


def make(args: argparse.Namespace) -> None:
    from bot.generation.backends import gpt2_generator
    from core.errors import GenerationError

    settings = Settings(**({"var_dir": args.var} if args.var else {}))
    asked = questions(args.loose, args.alone, args.seed)
    turns = serve_and_ask(asked, args.repo or ROOT, args.var)
    # GPT-2 on the top passages; a product named in full is answered from its one passage.
    kept = [t for t in turns if t["route"] == "generate" and len(t["meta"].get("evidence") or []) > 1]
    generator = gpt2_generator(settings.generation_backend, settings.generator_dir,
                               settings.var_dir / "generator-fast",
                               max_new_tokens=settings.generation_max_new_tokens,
                               threads=settings.generation_threads)
    generator.warm_up()
    rows, checks = [], {"sent_draft_differs": 0, "logged_draft_differs": 0, "logged_flag_differs": 0,
                        "generation_failed": 0}
    for t in kept:
        if t["versions"].get("generator") not in (None, generator.version):
            sys.exit(f"the server generated with {t['versions']['generator']}, this script with "
                     f"{generator.version}: set SHOPBOT_GENERATOR_MODEL to the live version's directory")
        passages = list(t["meta"]["evidence"])
        try:
            draft = generator.run(t["question"], passages, max_time_s=30.0).text.strip()
        except GenerationError:
            checks["generation_failed"] += 1
            continue
        sent = " ".join(m.get("text", "") for m in t["reply"] if m.get("text"))
        verdict = verify(draft, passages, t["question"])
        # The served turn must agree: a sent draft is the one regenerated here (greedy decoding),
        # a withheld one is logged as it, and the logged flag is the verdict.
        checks["sent_draft_differs"] += verdict.verified and sent != draft
        logged = t["meta"].get(WITHHELD_KEY)
        checks["logged_draft_differs"] += logged is not None and logged != draft
        checks["logged_flag_differs"] += ("ungrounded" in t["flags"]) == verdict.verified
        row: dict[str, Any] = {"question": t["question"], "kind": t["kind"], "split": split_of(t["question"]),
                               "passages": passages, "draft": draft, "sent": sent,
                               "logged_flags": sorted(t["flags"])}
        rows.append({**row, "key": row_key(row), "verified": verdict.verified,
                     "unsupported": list(verdict.unsupported)})
    saved = load(args.out) if args.out.exists() else []
    rows = merge_labels(rows, saved)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    routes: dict[str, int] = {}
    for t in turns:
        routes[t["route"]] = routes.get(t["route"], 0) + 1
    print(json.dumps({"questions": len(asked), "routes": routes, "kept": len(rows),
                      "labels_kept": sum(r["label"] is not None for r in rows), **checks,
                      "generator": generator.version, "errors": sum(t["status"] != 200 for t in turns)},
                     indent=2))


def load(path: Path) -> list[dict[str, Any]]:
    """The rows of a saved sample."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def merge_labels(rows: list[dict[str, Any]], saved: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with the labels ``saved`` gave the same question, passages and draft; else null."""
    labels = {r["key"]: r for r in saved if r.get("label") is not None}
    return [{**r, "label": labels.get(r["key"], {}).get("label"),
             "label_note": labels.get(r["key"], {}).get("label_note", "")} for r in rows]


def flagged(row: dict[str, Any], thresholds: FlagThresholds, rule: str = "verifier") -> bool:
    """Whether the turn that generated the row's draft is flagged ``ungrounded`` by the flags' own
    rule, on the grounding score the handler reports: the verifier's, or (``rule="before"``) the
    one it reported before the verifier (word share, 0 for a number the passages lack)."""
    draft, passages = row["draft"], row["passages"]
    if rule == "before":
        score = 0.0 if unsupported_claims(draft, " ".join(passages)) else grounding(draft, passages)
    else:
        score = verify(draft, passages, row["question"]).grounding
    return Flag.UNGROUNDED in flags_of(TurnFacts(route=Route.GENERATE, grounding_score=score), thresholds)


def figures(rows: Sequence[dict[str, Any]], thresholds: FlagThresholds, rule: str) -> dict[str, Any]:
    """Precision and recall of the flag on labelled ``rows`` ("unsupported" is the positive class),
    and the share of supported drafts left unflagged (sent)."""
    tp = fp = fn = tn = 0
    for r in rows:
        flag, bad = flagged(r, thresholds, rule), r["label"] == "unsupported"
        tp, fp = tp + (flag and bad), fp + (flag and not bad)
        fn, tn = fn + (bad and not flag), tn + (not flag and not bad)
    return {"labelled": len(rows), "unsupported": tp + fn, "flagged": tp + fp, "tp": tp, "fp": fp,
            "fn": fn, "tn": tn, "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "supported_sent": round(tn / (tn + fp), 4) if tn + fp else None}


def score(args: argparse.Namespace) -> dict[str, Any]:
    rows = load(args.saved)
    labelled = [r for r in rows if r.get("label") in LABELS]
    thresholds = FlagThresholds(ungrounded=args.threshold)
    out: dict[str, Any] = {"rows": len(rows), "unlabelled": len(rows) - len(labelled), "rule": args.rule,
                           "threshold": args.threshold}
    for split in ("dev", "test"):
        out[split] = figures([r for r in labelled if r["split"] == split], thresholds, args.rule)
    out["all"] = figures(labelled, thresholds, args.rule)
    if args.errors:
        out["errors"] = [
            {"split": r["split"], "label": r["label"], "question": r["question"], "draft": r["draft"],
             "unsupported": list(verify(r["draft"], r["passages"], r["question"]).unsupported)}
            for r in labelled if r["split"] in args.errors
            and flagged(r, thresholds, args.rule) != (r["label"] == "unsupported")]
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make", help="ask the server, regenerate the drafts, keep the labels")
    m.add_argument("--out", type=Path, default=SAMPLE)
    m.add_argument("--loose", type=int, default=460, help="questions about a loosely named thing")
    m.add_argument("--alone", type=int, default=120, help="follow-ups asked alone")
    m.add_argument("--seed", type=int, default=26)
    m.add_argument("--repo", type=Path, help="serve this checkout (default: this one)")
    m.add_argument("--var", type=Path, help="built var/ (default: the settings')")
    s = sub.add_parser("score", help="precision and recall of `ungrounded` on the saved, labelled drafts")
    s.add_argument("saved", type=Path, nargs="?", default=SAMPLE)
    s.add_argument("--threshold", type=float, default=FlagThresholds().ungrounded,
                   help="the flag's threshold (SHOPBOT_UNGROUNDED_THRESHOLD)")
    s.add_argument("--rule", choices=["verifier", "before"], default="verifier",
                   help="the grounding score the flag is computed on: the verifier's, or the one before it")
    s.add_argument("--errors", nargs="*", default=[], choices=["dev", "test"], help="list the misjudged rows")
    args = parser.parse_args()
    if args.command == "make":
        make(args)
    else:
        score(args)


if __name__ == "__main__":
    main()
