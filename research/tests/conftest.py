"""Research tests run on their own (`make research-test`), never in `make test`.

The scripts under research/ are run by path, not imported from an installed package: the
repository root goes on ``sys.path`` so the product packages of this checkout (the code each
experiment is pinned to) are the ones imported, and models load offline as in tests/.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
