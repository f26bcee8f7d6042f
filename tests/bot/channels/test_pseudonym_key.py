"""The pseudonym key kept in the var dir: made once, whole, whoever starts first."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from bot.channels.ids import pseudonym_key


def _read_key(var_dir: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    out.put(pseudonym_key(None, Path(var_dir)))


def test_workers_starting_together_all_read_the_same_whole_key(tmp_path: Path) -> None:
    # Two workers once started at the same instant: one saw the other's still-empty key file.
    for round_ in range(5):
        var_dir = tmp_path / f"var{round_}"
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        procs = [ctx.Process(target=_read_key, args=(str(var_dir), out)) for _ in range(6)]
        for proc in procs:
            proc.start()
        keys = [out.get(timeout=30) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        assert len(set(keys)) == 1 and len(keys[0]) == 32, keys
        assert (var_dir / "pseudonym.key").read_bytes() == keys[0]
        assert [p.name for p in var_dir.iterdir()] == ["pseudonym.key"], "no draft left behind"


def test_a_configured_secret_wins_and_a_kept_key_is_never_replaced(tmp_path: Path) -> None:
    assert pseudonym_key(b"from-env", tmp_path) == b"from-env"
    first = pseudonym_key(None, tmp_path)
    assert pseudonym_key(None, tmp_path) == first and len(first) == 32
