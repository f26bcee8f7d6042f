"""Model artefacts published atomically and verified before they are served.

A version's files are written into a staging folder beside their final place, listed with
their SHA-256 in ``manifest.json``, and then renamed into place in one step: a reader sees
the whole version or none of it. Loading checks every file against the manifest, so a
truncated copy, a missing file or an edited weight is refused instead of served.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from core.errors import NotReady
from monitoring.journal import fsync_dir

MANIFEST = "manifest.json"
_CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """SHA-256 of one file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(folder: Path) -> str:
    """List every file of ``folder`` with its size and digest; returns the manifest's own digest."""
    entries = {
        str(p.relative_to(folder)): {"bytes": p.stat().st_size, "sha256": file_digest(p)}
        for p in _files(folder)
    }
    if not entries:
        raise NotReady(f"{folder} holds no files to publish")
    path = folder / MANIFEST
    path.write_text(json.dumps({"files": entries}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return file_digest(path)


def publish(staging: Path, final: Path) -> str:
    """Manifest ``staging``, flush it to disk, and rename it to ``final`` (which must not exist)."""
    if final.exists():
        raise NotReady(f"{final} exists already: versions are never overwritten")
    digest = write_manifest(staging)
    for p in [*_files(staging), staging / MANIFEST]:
        with p.open("rb") as f:
            os.fsync(f.fileno())
    final.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(final)
    fsync_dir(final.parent)
    return digest


def verify(folder: Path, manifest_digest: str | None = None) -> None:
    """Raise ``NotReady`` unless every file listed in the manifest is there, whole and unchanged."""
    path = folder / MANIFEST
    try:
        if manifest_digest is not None and file_digest(path) != manifest_digest:
            raise NotReady(f"{path} is not the manifest this version was registered with")
        listed = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise NotReady(f"{folder} has no readable manifest: {err}") from err
    for name, meta in listed.items():
        p = folder / name
        if not p.is_file():
            raise NotReady(f"{p} is missing")
        if p.stat().st_size != meta["bytes"] or file_digest(p) != meta["sha256"]:
            raise NotReady(f"{p} does not match its manifest (changed or truncated)")


def copy_into(source: Path, staging: Path) -> None:
    """Copy a model folder into a fresh staging folder (its old manifest is left behind)."""
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(MANIFEST, "*.tmp"))

