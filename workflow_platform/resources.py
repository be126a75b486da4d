"""Dagster resources: the DuckDB warehouse."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

from workflow_platform.settings import warehouse_memory_limit

WAREHOUSE_POOL = "warehouse"


class WarehouseResource(DuckDBResource):
    """DuckDBResource that always closes its connection, so an exception never leaks the file lock."""

    lock_wait_seconds: float = 120.0

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection, closed however the block ends. While another process holds DuckDB's
        file lock, retry with backoff for up to `lock_wait_seconds`."""
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        config = {"custom_user_agent": "workflow_platform", "memory_limit": warehouse_memory_limit(),
                  **self.connection_config}
        deadline, delay = time.monotonic() + self.lock_wait_seconds, 0.1
        while True:
            try:
                conn = duckdb.connect(self.database, config=config)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        try:
            yield conn
        finally:
            conn.close()
