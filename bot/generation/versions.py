"""The version of a GPT-2 checkpoint directory, read without loading PyTorch or its weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.errors import NotReady

# Written by `shopbot train-generator` beside the shop's own checkpoint.
META_FILE = "shopbot_generator.json"


def checkpoint_version(model_dir: Path) -> str:
    """Our training version, or a fingerprint of a foreign checkpoint such as ``gpt2``."""
    config = model_dir / "config.json"
    if not config.is_file():
        raise NotReady(f"no generator checkpoint in {model_dir}: run `shopbot setup`")
    try:
        return str(json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        pass
    digest = hashlib.sha256(config.read_bytes())
    for weights in sorted(model_dir.glob("*.safetensors")) + sorted(model_dir.glob("*.bin")):
        digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type", "model")
    return f"{model_type}-{digest.hexdigest()[:12]}"
