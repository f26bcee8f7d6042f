"""A fitted recommender kept on disk, so that a start or restart loads it instead of refitting.

Two uses of one format. The cache (``load_or_fit``) keeps the fit of the transactions CSV under
its fingerprint. A registry version (``save_version``/``load_version``) is a folder holding the
same arrays and a ``recommender.json`` with the config it was fitted with; the registry lists
both in its manifest and verifies them before they are served (``bot.lifecycle``).

Fitting reads every sales line and inverts EASE's item×item Gram matrix: seconds of CPU on each
worker start (and on every restart after a crash) for a result that only changes when the
transactions, the catalogue, the settings or the recommender's code change. The file is keyed by
a fingerprint of all four; any mismatch, or a file that cannot be read, means a fresh fit. Plain
``.npz`` arrays, never pickles: loading the file runs no code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Collection
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np

from actions import recommender as recommender_module
from actions.recommender import Recommender, RecommenderConfig
from core.errors import NotReady

log = logging.getLogger(__name__)

FILE_NAME = "recommender.npz"
# Beside the arrays in a registry version: the config and what the fit was made of.
META_NAME = "recommender.json"
# Bumped when the arrays' names or meaning change, so an old version is refused, not misread.
FORMAT = 1
_FINGERPRINT = "fingerprint"


def fingerprint(transactions_csv: Path, known: Collection[str] | None,
                config: RecommenderConfig) -> str:
    """sha256 over the transactions file, the catalogue's codes, the config and the fit's code."""
    digest = hashlib.sha256()
    with transactions_csv.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    digest.update(json.dumps(sorted(known) if known is not None else None).encode())
    digest.update(json.dumps(asdict(config), sort_keys=True).encode())
    digest.update(Path(recommender_module.__file__).read_bytes())
    return digest.hexdigest()


def load_fitted(path: Path, key: str, config: RecommenderConfig) -> Recommender | None:
    """The fit kept at ``path`` if its fingerprint is ``key``; None if absent, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored[_FINGERPRINT]) != key:
                return None
            return Recommender.from_state({name: stored[name] for name in stored.files}, config)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        log.warning("Refitting the recommender: %s is unreadable (%s)", path, err)
        return None


def _save(model: Recommender, path: Path, key: str) -> None:
    """Write to a temporary file and rename it, so a reader never sees half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".recommender-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                arrays: dict[str, Any] = {_FINGERPRINT: np.array(key), **model.state()}
                np.savez(handle, **arrays)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError as err:  # a read-only volume: serve the fit, refit on the next start
        log.warning("Could not keep the fitted recommender in %s: %s", path.parent, err)


def load_or_fit(transactions_csv: Path, known: Collection[str] | None, cache_dir: Path | None,
                config: RecommenderConfig | None = None) -> Recommender:
    """The recommender fitted on ``transactions_csv``: from ``cache_dir`` when it is current.

    Otherwise it is fitted and written there for the next start; ``cache_dir=None`` always fits.
    """
    config = config or RecommenderConfig()
    if cache_dir is None:
        return Recommender.from_csv(transactions_csv, known, config)
    key = fingerprint(transactions_csv, known, config)
    path = cache_dir / FILE_NAME
    model = load_fitted(path, key, config)
    if model is None:
        model = Recommender.from_csv(transactions_csv, known, config)
        _save(model, path, key)
    return model


def code_hash() -> str:
    """sha256 of the fitting code: a version records which code its arrays came from."""
    return hashlib.sha256(Path(recommender_module.__file__).read_bytes()).hexdigest()


def config_from_json(data: object) -> RecommenderConfig:
    """A config from ``asdict(config)``; ``NotReady`` for a setting this code does not know.

    Settings missing from ``data`` take their defaults (they were added after the fit, with
    the behaviour of before as their default).
    """
    if not isinstance(data, dict):
        raise NotReady(f"not a recommender config: {data!r}")
    known = {f.name for f in fields(RecommenderConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise NotReady(f"recommender settings unknown to this code: {', '.join(unknown)}")
    try:
        return RecommenderConfig(**data)
    except TypeError as err:
        raise NotReady(f"not a recommender config: {err}") from err


def save_version(model: Recommender, folder: Path, meta: dict[str, Any]) -> None:
    """Write a fitted model into a registry staging folder: its arrays and its config.

    ``meta`` (data hash, history, counts) is kept beside the config in ``recommender.json``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = model.state()
    with (folder / FILE_NAME).open("wb") as handle:
        np.savez(handle, **arrays)
    payload = {**meta, "format": FORMAT, "config": asdict(model.config), "code": code_hash()}
    (folder / META_NAME).write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n",
                                    encoding="utf-8")


def read_meta(folder: Path) -> dict[str, Any]:
    """A version's ``recommender.json``; ``NotReady`` when it is missing or of another format."""
    try:
        meta = json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise NotReady(f"{folder} holds no readable {META_NAME}: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise NotReady(f"{folder / META_NAME} is not format {FORMAT}")
    return meta


def load_version(folder: Path) -> Recommender:
    """The model saved by ``save_version`` in ``folder`` (the caller verifies the files first).

    Raises ``NotReady`` when the folder is not a whole recommender version of this format.
    """
    meta = read_meta(folder)
    config = config_from_json(meta.get("config"))
    try:
        with np.load(folder / FILE_NAME, allow_pickle=False) as stored:
            return Recommender.from_state({name: stored[name] for name in stored.files}, config)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise NotReady(f"{folder / FILE_NAME} is not a fitted recommender: {err}") from err
