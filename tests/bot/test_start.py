"""A worker starts from what ``shopbot setup`` built: no PyTorch, no refit of the recommender.

Start-up time is how long a crashed or replaced worker is away; PyTorch alone costs a worker
seconds of imports and hundreds of MB, and serving runs on ONNX Runtime.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from actions.recommender import RecommenderConfig, normalise_stock_code
from actions.recommender_store import FILE_NAME, fingerprint, load_fitted
from core.settings import Settings
from core.shop import load_products
from harness.server_process import mapped_libraries, serving

pytestmark = pytest.mark.slow


def test_a_serving_worker_loads_no_pytorch_and_keeps_its_recommender(
    built_var: Path, tmp_path: Path
) -> None:
    with serving(built_var, tmp_path) as server:
        assert server.proc is not None
        libraries = mapped_libraries(server.proc.pid)
        assert any(name.startswith("libonnxruntime") for name in libraries), "serves on ONNX Runtime"
        assert not [name for name in libraries if name.startswith("libtorch")], "PyTorch loaded"

    settings = Settings(var_dir=built_var)
    known = {normalise_stock_code(p.stock_code) for p in load_products(settings.shop_dir)}
    key = fingerprint(settings.transactions_csv, known, RecommenderConfig())
    kept = load_fitted(settings.recommender_dir / FILE_NAME, key, RecommenderConfig())
    assert kept is not None, "the recommender fit is kept for the next start"
