"""Router method M6: an ensemble of fine-tuned routers that differ only in their training seed.

Each member is the shipped router (``retrieval.router_train.fit``, ``RouterConfig`` with
``seed`` changed); the members share the frozen bottom layers, so a served ensemble would run
them once and only the fine-tuned top halves once per member. The ensemble's logits are the
members' mean; the decline threshold follows the shipped rule: the 20 % holdout split of seed 0
(the same for every member), answering ``--keep-rate`` of the held-out in-scope phrasings that
the holdout ensemble routes right. Scored on ``--cases`` (CLINC150 validation), never a test
split; each fit is cached under ``--cache`` as ``fit-s<seed>-holdout.npz`` / ``-full.npz``.

    .venv/bin/python research/router_seed_ensemble.py \\
        --faq ../shared/benchmarks/clinc150_faq.json \\
        --cases ../shared/benchmarks/clinc150_val.jsonl --seeds 0,1,2 --cache /tmp/router_seeds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import router_methods as rm  # noqa: E402

from retrieval.router import RouterConfig  # noqa: E402


def member_fits(data: rm.Data, seeds: Sequence[int], cache: Path,
                config: RouterConfig) -> dict[int, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """(holdout fit, full fit) per seed; every holdout fit leaves out seed ``config.seed``'s split."""
    mask, held = rm.holdout_split(data, config)
    full = np.ones(len(data.texts), dtype=bool)
    fits = {}
    for seed in seeds:
        member = replace(config, seed=seed)
        fits[seed] = (rm.run_fit(data, f"s{seed}-holdout", mask, held, cache, member, bank=False),
                      rm.run_fit(data, f"s{seed}-full", full, [], cache, member, bank=False))
    return fits


def ensemble_scores(held_logits: Sequence[np.ndarray], held_y: np.ndarray,
                    val_logits: Sequence[np.ndarray], val_y: np.ndarray,
                    labels: Sequence[str], keep_rate: float) -> dict[str, Any]:
    """Validation in-scope accuracy, out-of-scope recall and raw top-1 of the mean logits (%).

    ``val_y`` is -1 for out of scope; a declined in-scope case counts as wrong.
    """
    held = rm.score_set(np.mean(held_logits, axis=0), None, held_y, labels, None, None)
    val = rm.score_set(np.mean(val_logits, axis=0), None, val_y, labels, None, None)
    threshold = rm.threshold_keep(held, held.feats["energy"], keep_rate)
    found = rm.figures(val, val.feats["energy"], threshold)
    inside = val.y >= 0
    return {
        "in_scope": 100 * found["acc"],
        "oos_recall": 100 * found["recall"],
        "raw_top1": 100 * float(np.mean(val.top[inside] == val.y[inside])),
        "threshold": threshold,
    }


def run(data: rm.Data, seeds: Sequence[int], cache: Path, config: RouterConfig,
        keep_rates: Sequence[float]) -> list[dict[str, Any]]:
    """Every single member and every leading ensemble (seeds[:2], seeds[:3], ...) per keep rate."""
    cache.mkdir(parents=True, exist_ok=True)
    fits = member_fits(data, seeds, cache, config)
    groups = [[s] for s in seeds] + [list(seeds[:n]) for n in range(2, len(seeds) + 1)]
    rows = []
    for group in groups:
        for rate in keep_rates:
            scores = ensemble_scores([fits[s][0]["held_logits"] for s in group],
                                     fits[group[0]][0]["held_y"],
                                     [fits[s][1]["val_logits"] for s in group], data.val_y,
                                     data.labels, rate)
            train_s = sum(float(fits[s][0]["train_s"]) + float(fits[s][1]["train_s"]) for s in group)
            rows.append({"seeds": group, "keep_rate": rate, **scores, "train_s": train_s})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per member or ensemble and keep rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faq", type=Path, required=True)
    parser.add_argument("--cases", type=Path, required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--keep-rates", default="0.995,0.99")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/router_seeds"))
    parser.add_argument("--tiny", action="store_true", help="RouterConfig.tiny() (smoke tests)")
    args = parser.parse_args(argv)
    config = RouterConfig.tiny() if args.tiny else RouterConfig()
    started = time.perf_counter()
    rows = run(rm.load_data(args.faq, args.cases), [int(s) for s in args.seeds.split(",")],
               args.cache, config, [float(r) for r in args.keep_rates.split(",")])
    for row in rows:
        print(json.dumps(row))
    print(json.dumps({"wall_s": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
