"""Artefacts are published whole or not at all, and damaged ones are refused on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.lifecycle.artifacts import MANIFEST, publish, verify
from core.errors import NotReady


def _staged(tmp_path: Path) -> Path:
    staging = tmp_path / ".staging"
    (staging / "onnx").mkdir(parents=True)
    (staging / "router.json").write_text('{"version": "x"}')
    (staging / "onnx" / "turn.int8.onnx").write_bytes(b"\0weights" * 1000)
    return staging


def test_a_published_version_verifies(tmp_path: Path) -> None:
    final = tmp_path / "router" / "v1"
    digest = publish(_staged(tmp_path), final)
    assert not (tmp_path / ".staging").exists()
    assert (final / MANIFEST).is_file()
    verify(final, digest)


def test_an_existing_version_is_never_overwritten(tmp_path: Path) -> None:
    final = tmp_path / "v1"
    publish(_staged(tmp_path), final)
    with pytest.raises(NotReady, match="never overwritten"):
        publish(_staged(tmp_path), final)


@pytest.mark.parametrize("damage", ["truncate", "edit", "delete", "manifest"])
def test_damaged_files_are_refused(tmp_path: Path, damage: str) -> None:
    final = tmp_path / "v1"
    digest = publish(_staged(tmp_path), final)
    weights = final / "onnx" / "turn.int8.onnx"
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:100])
    elif damage == "edit":
        data = bytearray(weights.read_bytes())
        data[10] ^= 0xFF
        weights.write_bytes(bytes(data))
    elif damage == "delete":
        weights.unlink()
    else:
        (final / MANIFEST).write_text('{"files": {}}')
    with pytest.raises(NotReady):
        verify(final, digest)


def test_an_empty_folder_cannot_be_published(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotReady, match="no files"):
        publish(tmp_path / "empty", tmp_path / "v1")
