"""Workers that start together on an empty PostgreSQL create the schema once, and none fails."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import inspect

from bot.serving.schema import create_tables
from core.db import make_engine
from harness.pg import postgres

pytestmark = [pytest.mark.postgres]


def test_workers_starting_together_create_the_tables_once() -> None:
    with postgres() as pg:
        engines = [make_engine(pg.url) for _ in range(6)]
        start = threading.Barrier(len(engines))

        def worker_start(engine: object) -> None:
            start.wait()
            create_tables(engine)  # type: ignore[arg-type]

        try:
            with ThreadPoolExecutor(len(engines)) as pool:
                for _ in pool.map(worker_start, engines):  # re-raises a worker's failure
                    pass
            tables = set(inspect(engines[0]).get_table_names())
        finally:
            for engine in engines:
                engine.dispose()
    assert {"turns", "handoffs"} <= tables, tables
