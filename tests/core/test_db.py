"""The engine factory: SQLite files in write-ahead-log mode with full sync, outages as Unavailable."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import make_engine
from core.errors import Unavailable


def test_sqlite_files_use_a_synced_write_ahead_log(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db' / 'turns.sqlite3'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
    # A second engine (another worker) reads what the first committed.
    with make_engine(f"sqlite:///{tmp_path / 'db' / 'turns.sqlite3'}").connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalar() == 1
    engine.dispose()


def test_an_unreachable_postgresql_is_unavailable() -> None:
    engine = make_engine("postgresql://shopbot@127.0.0.1:1/shopbot")
    with pytest.raises(Unavailable), engine.connect():
        pass
