"""The router's settings by profile, and the seed router `shopbot setup` trains for the profile."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from core.settings import Settings


def router_config(settings: Settings, args: argparse.Namespace) -> Any:
    """The router's hyper-parameters: tiny for tests, else the shipped ones; the profile's own;
    another training seed where ``args.seed`` names one (``shopbot eval --seed``)."""
    from retrieval.router import RouterConfig

    profile = getattr(args, "profile", None) or settings.router_profile
    base = RouterConfig.tiny() if getattr(args, "tiny", False) else RouterConfig()
    seed = getattr(args, "seed", None)
    return (base if seed is None else replace(base, seed=seed)).for_profile(profile)


def ensure_mpnet(settings: Settings) -> None:
    """The accurate profile's all-mpnet-base-v2 ONNX export, made once (about a minute)."""
    from retrieval.mpnet import export_meta

    if export_meta(settings.mpnet_dir) is None:
        from retrieval.mpnet import ensure_export

        print(f"exporting all-mpnet-base-v2 for ONNX Runtime under {settings.mpnet_dir} (once)")
        ensure_export(settings.mpnet_dir, settings.accurate_model)


def train_seed_router(settings: Settings, args: argparse.Namespace, entries: list[Any]) -> int:
    """The seed router `shopbot setup` trains (var/router, var/router-accurate), served until a deploy."""
    from retrieval.mpnet import second_encoder
    from retrieval.router_train import is_current, train_router
    from retrieval.turn_encoder import export_onnx, onnx_is_current

    config = router_config(settings, args)
    if config.profile == "accurate":
        ensure_mpnet(settings)
    if not getattr(args, "force", False) and is_current(settings.router_dir, entries, config.profile):
        if not onnx_is_current(settings.router_dir):
            print(f"exported for ONNX Runtime: {export_onnx(settings.router_dir)}")
        print(f"router already up to date: {settings.router_dir}")
        return 0
    second = second_encoder(config.profile, settings.mpnet_dir, config.threads)
    report = train_router(entries, settings.router_dir, config=config, progress=True, second=second)
    held = report.calibration
    print(
        f"router {report.version} ({config.profile}): {report.n_entries} entries, "
        f"{report.n_phrasings} phrasings, "
        f"threshold {report.threshold:.3f}; held out: in-scope accuracy "
        f"{held.get('held_out_accuracy_at_threshold')}, out-of-scope recall "
        f"{held.get('held_out_oos_recall')}; trained in {report.train_s:.0f} s"
    )
    print(f"exported for ONNX Runtime: {export_onnx(settings.router_dir)}")
    return 0
