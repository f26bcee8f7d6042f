"""Does the accurate profile gain from an mpnet member whose top layer is fine-tuned, instead of a
logistic head on the frozen embedding (issue 28: "the M3b ensemble, or whatever beats it")?

The accurate profile's second member is multinomial logistic regression on frozen all-mpnet-base-v2
sentence embeddings (``retrieval/router_ensemble.py``). The MiniLM router beside it fine-tunes its
top layers; mpnet never was (method study M3: fine-tuning all twelve layers on 2 cores was out of
reach). Here only the top ``--layers`` of mpnet train, on cached outputs of the layers below
(computed once per phrasing, as ``router_train.py`` does for MiniLM's frozen layers), so a fit
costs minutes.

Method, fixed before the run, each choice with its reason:

- *LP-FT* (Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features and Underperform
  Out-of-Distribution"): the head starts as the served logistic head fit on the same rows
  (``fit_head``), then head and top layer train together. Starting from the probe keeps the
  pre-trained features where they serve, which is what the decline decision relies on.
- Same loss as the served head (cross-entropy on ``SCALE`` × the unit mean-pooled embedding, L2
  on the head's weights), AdamW, layer learning rate 2e-5 (BERT-base's usual), head 1e-3, weight
  decay 0.01, batch 32, 2 epochs, 10 % linear warm-up then linear decay, seed 0.
- Everything else is the served profile: the MiniLM fits, the neighbour term on the *frozen*
  served mpnet embeddings (the bank stays in the space a frozen encoder gives, which is why it
  separates off-topic messages), the label rule (mean of the log-softmaxes), the energies'
  scale and the keep rate.

The fits are those the calibration study makes for every member: per CV fold (fit on the other
four), the 20 % holdout fit (scale and threshold) and the full fit (validation). The rule is the
label study's: adopted only if it answers more in-scope phrasings than the served member in CV
*and* on validation, with out-of-scope recall >= 88 % in both. A control row refits the frozen
logistic head on this script's own fp32 embeddings, to separate the fine-tuning from the int8
rounding of the served embeddings.

    python research/router_mpnet_tuned.py --faq ../shared/benchmarks/clinc150_faq.json \\
        --cases ../shared/benchmarks/clinc150_val.jsonl --cache /tmp/rm_now \\
        --model var/encoder/all-mpnet-base-v2 --out /tmp/mpnet_tuned.md
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import router_calibration as cal  # noqa: E402
import router_label_members as lm  # noqa: E402
from router_methods import K_FOLDS, Data, load_data  # noqa: E402

from retrieval.router import mean_pool, run_layers  # noqa: E402
from retrieval.router_ensemble import L2, SCALE, fit_head  # noqa: E402


@dataclass(frozen=True)
class TuneConfig:
    """The fine-tuning's settings (the module docstring says why each)."""

    layers: int = 1
    layer_lr: float = 2e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    epochs: float = 2.0
    warmup: float = 0.1
    seed: int = 0
    max_len: int = 128


@dataclass(frozen=True)
class States:
    """Every text's token states after the frozen layers (float16, rows of all texts one after the
    other), where each text's rows start, and its frozen fp32 sentence embedding."""

    tokens: np.ndarray
    offsets: np.ndarray
    frozen: np.ndarray

    def batch(self, idx: Sequence[int]) -> tuple[Any, Any]:
        """Padded token states and the padding mask of the texts ``idx``."""
        import torch

        lengths = [int(self.offsets[i + 1] - self.offsets[i]) for i in idx]
        width = max(lengths)
        hidden = torch.zeros(len(idx), width, self.tokens.shape[1])
        mask = torch.zeros(len(idx), width, dtype=torch.long)
        for row, (i, n) in enumerate(zip(idx, lengths, strict=True)):
            start = self.offsets[i]
            hidden[row, :n] = torch.from_numpy(self.tokens[start: start + n].astype(np.float32))
            mask[row, :n] = 1
        return hidden, mask


def load_model(model_dir: Path) -> tuple[Any, Any]:
    """The pre-trained mpnet (eager attention: the additive mask and position bias as written)."""
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    return model, AutoTokenizer.from_pretrained(str(model_dir))


def frozen_states(model: Any, tokenizer: Any, texts: Sequence[str], frozen_layers: int, max_len: int = 128,
                  chunk: int = 64) -> States:
    """Run mpnet once over ``texts`` (by length, so batches pad little); keep the states after
    ``frozen_layers`` layers and the full model's unit mean-pooled embedding."""
    import torch

    order = np.argsort([len(t) for t in texts], kind="stable")
    pieces: list[np.ndarray | None] = [None] * len(texts)
    frozen = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(texts), chunk):
            idx = order[start: start + chunk]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_len,
                            return_tensors="pt")
            out = model(**enc, output_hidden_states=True)
            mid = out.hidden_states[frozen_layers]
            pooled = mean_pool(out.last_hidden_state, enc["attention_mask"])
            emb = torch.nn.functional.normalize(pooled, dim=-1)
            for row, i in enumerate(idx):
                n = int(enc["attention_mask"][row].sum())
                pieces[i] = mid[row, :n].to(torch.float16).numpy()
                frozen[i] = emb[row].numpy()
    lengths = np.array([len(p) for p in pieces if p is not None])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    return States(np.concatenate([p for p in pieces if p is not None]), offsets, frozen)


class Top:
    """mpnet's top layers and the softmax head over the unit mean-pooled embedding."""

    def __init__(self, model: Any, layers: int, weight: np.ndarray, bias: np.ndarray) -> None:
        import torch

        self.layers = torch.nn.ModuleList(copy.deepcopy(model.encoder.layer[-layers:])).train()
        self.position = model.encoder  # its relative-position bias is shared and stays frozen
        self.weight = torch.nn.Parameter(torch.from_numpy(weight.copy()))
        self.bias = torch.nn.Parameter(torch.from_numpy(bias.copy()))

    def forward(self, hidden: Any, mask: Any) -> tuple[Any, Any]:
        """Logits and unit embeddings of a batch of frozen-layer states."""
        import torch

        with torch.no_grad():
            position = self.position.compute_position_bias(hidden)
        hidden = run_layers(self.layers, hidden, mask, position)
        unit = torch.nn.functional.normalize(mean_pool(hidden, mask), dim=-1)
        return (unit * SCALE) @ self.weight.T + self.bias, unit


def tune(model: Any, states: States, rows: np.ndarray, y: np.ndarray, n_labels: int, cfg: TuneConfig) -> Top:
    """LP-FT on the texts ``rows``: the probe on their frozen embeddings, then the top layers and
    head together."""
    import torch

    w, b = fit_head(states.frozen[rows], y, n_labels, seed=cfg.seed)
    top = Top(model, cfg.layers, w, b)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    opt = torch.optim.AdamW([
        {"params": list(top.layers.parameters()), "lr": cfg.layer_lr, "weight_decay": cfg.weight_decay},
        {"params": [top.weight, top.bias], "lr": cfg.head_lr, "weight_decay": 0.0},
    ])
    per_epoch = int(np.ceil(len(rows) / cfg.batch_size))
    steps = int(round(per_epoch * cfg.epochs))
    warm = max(1, int(steps * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    target = torch.from_numpy(np.asarray(y, dtype=np.int64))
    step = 0
    while step < steps:
        perm = rng.permutation(len(rows))
        for start in range(0, len(rows), cfg.batch_size):
            if step >= steps:
                break
            pick = perm[start: start + cfg.batch_size]
            hidden, mask = states.batch(rows[pick])
            logits, _ = top.forward(hidden, mask)
            loss = torch.nn.functional.cross_entropy(logits, target[pick]) + L2 * (top.weight ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
    top.layers.eval()
    return top


def tuned_logits(top: Top, states: States, rows: np.ndarray, chunk: int = 128) -> np.ndarray:
    """The tuned member's logits for the texts ``rows``."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(rows), chunk):
            hidden, mask = states.batch(rows[start: start + chunk])
            out.append(top.forward(hidden, mask)[0].float().numpy())
    return np.concatenate(out) if out else np.zeros((0, top.weight.shape[0]), dtype=np.float32)


def tuned_heads(data: Data, model: Any, states: States, cfg: TuneConfig) -> cal.Heads:
    """The tuned member's logits as each fit sees them, in ``cal.fit_heads``' layout: per fold (fit
    on the other four), on the 20 % held-out rows (fit on the rest), on validation (fit on all).
    ``states`` holds the train phrasings first, then the validation cases."""
    n, n_train = len(data.labels), len(data.texts)
    everything = np.arange(n_train)
    oof = []
    for k in range(K_FOLDS):
        started = time.perf_counter()
        top = tune(model, states, everything[data.fold != k], data.y[data.fold != k], n, cfg)
        oof.append(tuned_logits(top, states, everything[data.fold == k]))
        print(f"tuned mpnet, fold {k}: {time.perf_counter() - started:.0f} s", flush=True)
    mask, rows = cal.held_rows(data)
    top = tune(model, states, everything[mask], data.y[mask], n, cfg)
    held_logits = tuned_logits(top, states, rows)
    top = tune(model, states, everything, data.y, n, cfg)
    val_logits = tuned_logits(top, states, n_train + np.arange(len(data.val_texts)))
    print("tuned mpnet: holdout and full fits done", flush=True)
    return oof, held_logits, val_logits, rows, mask


def score(
    data: Data, cache: Path, train_emb: np.ndarray, val_emb: np.ndarray, heads: cal.Heads
) -> dict[str, Any]:
    """CV and validation figures of the served profile with ``heads`` as its mpnet member (the
    neighbour term on the served embeddings)."""
    cv, val = lm.score_variant(data, lm.load_fits(cache), train_emb, val_emb, heads, lm.mean_rule, None)
    return {"cv_folds": cv, "cv": {m: float(np.mean([f[m] for f in cv])) for m in ("in_scope", "oos_recall")},
            "val": val}


def raw_top1(data: Data, heads: cal.Heads) -> float:
    """The member's own top-1 on validation's in-scope cases."""
    inside = data.val_y >= 0
    return float((heads[2].argmax(axis=1)[inside] == data.val_y[inside]).mean()) * 100


def cached_states(cache: Path, model: Any, tokenizer: Any, data: Data, frozen_layers: int) -> States:
    """``frozen_states`` of the train phrasings then the validation cases, cached under ``cache``."""
    path = cache / f"mpnet-states{frozen_layers}.npz"
    started = time.perf_counter()
    if not path.exists():
        s = frozen_states(model, tokenizer, data.texts + data.val_texts, frozen_layers, TuneConfig.max_len)
        np.savez(path, tokens=s.tokens, offsets=s.offsets, frozen=s.frozen)
    z = np.load(path)
    print(f"states after {frozen_layers} layers: {time.perf_counter() - started:.0f} s", flush=True)
    return States(z["tokens"], z["offsets"], z["frozen"])


def show(name: str, row: dict[str, Any]) -> None:
    """One variant's figures as a line of JSON, as they come."""
    print(json.dumps({name: {k: v for k, v in row.items() if k != "cv_folds"}}), flush=True)


def main() -> None:
    """Run the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="router_methods.py's fits")
    parser.add_argument("--model", type=Path, default=Path("var/encoder/all-mpnet-base-v2"))
    parser.add_argument("--mpnet-export", type=Path, default=Path("var/encoder/mpnet"))
    parser.add_argument("--layers", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2],
                        help="comma-separated: how many top layers each variant tunes")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    data = load_data(args.faq, args.cases)
    train_emb, val_emb, _ = cal.served_embeddings(data, args.cache, args.mpnet_export)
    model, tokenizer = load_model(args.model)
    n_train = len(data.texts)
    rows: dict[str, Any] = {}
    for layers in args.layers:
        cfg = TuneConfig(layers=layers)
        states = cached_states(args.cache, model, tokenizer, data, model.config.num_hidden_layers - layers)
        if not rows:
            for name, heads in (
                ("served (frozen head, served int8 embeddings)", cal.fit_heads(data, train_emb, val_emb)),
                ("control (frozen head, fp32 embeddings)",
                 cal.fit_heads(data, states.frozen[:n_train], states.frozen[n_train:])),
            ):
                rows[name] = {**score(data, args.cache, train_emb, val_emb, heads),
                              "raw_top1": raw_top1(data, heads)}
                show(name, rows[name])
        started = time.perf_counter()
        heads = tuned_heads(data, model, states, cfg)
        name = f"tuned top {layers} (LP-FT)"
        rows[name] = {**score(data, args.cache, train_emb, val_emb, heads), "raw_top1": raw_top1(data, heads),
                      "fits_s": time.perf_counter() - started}
        show(name, rows[name])
    text = markdown(rows)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")


def markdown(rows: dict[str, Any]) -> str:
    """One row per mpnet member."""
    lines = ["| mpnet member | raw top-1 val % | CV in-scope % | CV OOS % | val in-scope % | val OOS % |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in rows.items():
        cv = r["cv"]
        lines.append(f"| {name} | {r['raw_top1']:.2f} | {cv['in_scope']:.2f} | {cv['oos_recall']:.1f} "
                     f"| {r['val']['in_scope']:.2f} | {r['val']['oos_recall']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
