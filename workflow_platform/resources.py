"""Dagster resources: the DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster_duckdb import DuckDBResource

WAREHOUSE_POOL = "warehouse"


class WarehouseResource(DuckDBResource):
    """DuckDBResource that always closes its connection, so an exception never leaks the file lock."""

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        conn = duckdb.connect(self.database, config={"custom_user_agent": "workflow_platform", **self.connection_config})
        try:
            yield conn
        finally:
            conn.close()


def warehouse_resource(path: str | Path) -> WarehouseResource:
    return WarehouseResource(database=str(path))


__all__ = ["WAREHOUSE_POOL", "WarehouseResource", "warehouse_resource"]
