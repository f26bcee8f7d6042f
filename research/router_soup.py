"""A weight soup of MiniLM routers: the same fine-tuning with several seeds, weights averaged.

The training seed alone moves the accurate profile's CLINC150 validation figures by 0.27 points in
scope and 6 points of out-of-scope recall (docs/quality.md, "How far the training seed alone
moves these figures"). Averaging the logits of several seeds' routers removes part of that
noise but multiplies the serving cost. Routers fine-tuned from the same pre-trained weights
with different seeds can instead be averaged weight by weight into one router (a uniform "model
soup", Wortsman et al. 2022): the serving cost of one router, the training cost of several.

This script writes the fits cache of ``router_methods.py --stages fits`` (fold, holdout and
full fits, the same file names and keys) with each fit replaced by the soup of ``--seeds``
fits on the same phrasings. The holdout split stays the shipped one (seed 0's), so only the
training's randomness (initial head, batch order) differs between the seeds. The label rule
study then scores it like any cache:

    python research/router_soup.py --faq ../shared/benchmarks/clinc150_faq.json \\
        --cases ../shared/benchmarks/clinc150_val.jsonl --cache /tmp/rm_soup --like /tmp/rm_now
    python research/router_label_members.py --faq ../shared/benchmarks/clinc150_faq.json \\
        --cases ../shared/benchmarks/clinc150_val.jsonl --cache /tmp/rm_soup --out /tmp/soup.md

``--like`` names the cache of the single-seed fits, whose mpnet and base MiniLM embeddings the
soup's cache shares (linked, not recomputed): only the MiniLM router differs between the two.

Result (2026-12-06, docs/quality.md, "A weight soup of three seeds"): alone, the soup routes
0.33-0.40 points more validation phrasings right than any of its seeds, as many as the three
routers' mean logits; inside the accurate profile's ensemble it gains nothing in CV and loses
on validation, so it is not served.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from router_methods import K_FOLDS, Data, holdout_split, load_data, save_fit, subset_entries  # noqa: E402

from retrieval.router import RouterConfig  # noqa: E402
from retrieval.router_train import FittedRouter, fit  # noqa: E402

SEEDS = (0, 1, 2)
SHARED = ("mpnet-served.npz", "base.npz")  # embeddings that do not depend on the MiniLM fit


def soup(fits: list[FittedRouter]) -> FittedRouter:
    """One router whose every weight is the mean of ``fits``' (the same base, the same labels)."""
    import torch

    if len({f.labels for f in fits}) != 1:
        raise ValueError("the routers of a soup must share their labels")
    states = [f.encoder.state_dict() for f in fits]
    mean = {
        k: torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype) if v.is_floating_point() else v
        for k, v in states[0].items()
    }
    encoder = copy.deepcopy(fits[0].encoder)
    encoder.load_state_dict(mean)
    encoder.eval()
    return replace(fits[0], encoder=encoder, weight=torch.stack([f.weight for f in fits]).mean(0),
                   bias=torch.stack([f.bias for f in fits]).mean(0))


def soup_fit(data: Data, name: str, train_mask: np.ndarray, held: list[tuple[str, int]], cache: Path,
             config: RouterConfig, seeds: tuple[int, ...]) -> None:
    """The soup of ``seeds`` fits on the phrasings under ``train_mask``, as ``fit-<name>.npz``."""
    path = cache / f"fit-{name}.npz"
    if path.exists():
        return
    entries = subset_entries(data, train_mask)
    started = time.perf_counter()
    fits = [fit(entries, replace(config, seed=s), progress=False, desc=f"{name} seed {s}") for s in seeds]
    train_s = time.perf_counter() - started
    save_fit(data, path, soup(fits), train_mask, held, train_s, bank=False)
    print(f"{name}: {len(seeds)} fits and their soup in {train_s:.0f} s", flush=True)


def main() -> None:
    """Write the soup's fits cache."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True, help="where the soup's fits go")
    parser.add_argument("--like", type=Path, help="single-seed cache whose embeddings to link")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.like is not None:
        for name in SHARED:
            target, link = (args.like / name).resolve(), args.cache / name
            if target.exists() and not link.exists():
                link.symlink_to(target)
    data = load_data(args.faq, args.cases)
    config, seeds = RouterConfig(), tuple(args.seeds)
    for k in range(K_FOLDS):
        mask = data.fold != k
        soup_fit(data, f"fold{k}", mask, [(data.texts[i], int(data.y[i])) for i in np.flatnonzero(~mask)],
                 args.cache, config, seeds)
    mask, held = holdout_split(data, config)
    soup_fit(data, "holdout", mask, held, args.cache, config, seeds)
    soup_fit(data, "full", np.ones(len(data.texts), dtype=bool), [], args.cache, config, seeds)


if __name__ == "__main__":
    main()
