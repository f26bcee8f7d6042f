"""A small disk that fills up for real: a 256 KiB tmpfs (needs root, as CI runs), and a file that
takes every byte of it until it is removed."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

SIZE = "256k"


def can_mount() -> bool:
    """Whether this process may mount a tmpfs (root, and a kernel that lets it)."""
    return os.geteuid() == 0


@contextlib.contextmanager
def small_disk(where: Path) -> Iterator[Path]:
    """Mount a 256 KiB tmpfs at ``where`` for the block; unmounted afterwards."""
    if not can_mount():
        pytest.fail("the full-disk tests mount a tmpfs and must run as root (CI does): run them as root")
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0700", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk`` with one file; remove it to give the space back."""
    filler = disk / "filler.bin"
    with filler.open("ab", buffering=0) as handle:
        chunk = b"\0" * 4096
        while True:
            try:
                handle.write(chunk)
            except OSError as err:
                assert err.errno == errno.ENOSPC, err
                break
        # Whatever is left is smaller than a page: take it byte by byte.
        while True:
            try:
                handle.write(b"\0")
            except OSError:
                break
    return filler
