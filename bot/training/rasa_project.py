"""`shopbot setup` and `shopbot eval` for a Rasa project: its entity extractor, its cross-validation."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.training.seed_router import ensure_mpnet, router_config
from core.errors import BadRequest
from core.settings import Settings


def train_entities(settings: Settings) -> None:
    """A Rasa project's entity extractor (seconds), trained again only when its NLU data changed."""
    from retrieval.rasa_entities import train_entities as train
    from retrieval.rasa_project import load_rasa_project

    assert settings.rasa_project is not None
    nlu = load_rasa_project(settings.rasa_project).nlu
    if not nlu.annotated:
        print("entities: no example annotates one; entities come from button payloads only")
        return
    trained = train(nlu, settings.rasa_entities_dir)
    print(f"entities {'trained' if trained else 'current'}: {', '.join(sorted(nlu.entity_names))}")


def eval_rasa_project(settings: Settings, args: argparse.Namespace) -> int:
    """Cross-validated intent accuracy, macro-F1 and decline rate of a Rasa project's NLU data."""
    import json
    import tempfile
    from dataclasses import asdict

    from bot.training.cross_validation import cross_validate
    from retrieval.rasa_project import load_rasa_project

    assert settings.rasa_project is not None
    backend = args.backend or settings.inference_backend
    if backend == "all":
        raise BadRequest("cross-validation scores one backend: give --backend onnx-int8, onnx-fp32 or torch")
    project = load_rasa_project(settings.rasa_project)
    config = router_config(settings, args)
    if config.profile == "accurate":
        ensure_mpnet(settings)
    with tempfile.TemporaryDirectory(prefix="shopbot-cv-") as work:
        result = cross_validate(list(project.entries), folds=args.folds, work_dir=Path(work), config=config,
                                backend=backend, threads=settings.inference_threads, progress=True,
                                mpnet_dir=settings.mpnet_dir)
    result = {"project": str(project.root), **result}
    if project.nlu.annotated:
        from retrieval.rasa_entities import cross_validate_entities

        # The same number of folds, stratified by intent, as `rasa test nlu --cross-validation`.
        result["entities"] = asdict(cross_validate_entities(project.nlu, folds=args.folds))
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0
