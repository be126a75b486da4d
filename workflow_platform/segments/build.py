"""Segments and queries: a catalog SELECT materialized as `segment.<name>`, within the operator's limits."""

from __future__ import annotations

import duckdb

from workflow_platform.catalog.models import Segment
from workflow_platform.settings import sql_max_rows, sql_timeout_seconds
from workflow_platform.sql import StatementTimeout, TooManyRows, create_table_as, ident, memory_limit_bytes, sandbox

# while a catalog SELECT runs the process may grow by this much: DuckDB's buffer pool (its memory_limit) bounds
# most of a query, but one huge value (`range(10^9)`, `repeat('x', 10^9)`) is allocated outside it
MEMORY_ALLOWANCE_FACTOR = 2
MEMORY_ALLOWANCE_BYTES = 2**30


class SegmentSqlError(Exception):
    """The catalog's SQL failed at run time (a problem the catalog check could not see), or went past the time or
    row limit of one catalog SQL statement. The message names the segment or table and the limit, never data."""


def build_segment(conn: duckdb.DuckDBPyConnection, segment: Segment) -> int:
    conn.execute("CREATE SCHEMA IF NOT EXISTS segment")
    try:
        return materialize_catalog_select(conn, "segment", segment.name, segment.sql,
                                          what=f"segment {segment.name!r}")
    except duckdb.Error as exc:
        raise SegmentSqlError(f"segment {segment.name!r}: {str(exc).splitlines()[0]}") from exc


def materialize_catalog_select(conn: duckdb.DuckDBPyConnection, schema: str, name: str, select_sql: str, *,
                               what: str) -> int:
    """Replace `<schema>.<name>` with the rows of a catalog SELECT (a segment, a custom database table), sandboxed,
    within WORKFLOW_PLATFORM_SQL_TIMEOUT seconds and WORKFLOW_PLATFORM_SQL_MAX_ROWS rows; return the row count.
    When it fails the previous table stays: past a limit SegmentSqlError says which, an SQL error is DuckDB's."""
    timeout, max_rows = sql_timeout_seconds(), sql_max_rows()
    buffer_pool = memory_limit_bytes(conn)
    memory = buffer_pool * MEMORY_ALLOWANCE_FACTOR + MEMORY_ALLOWANCE_BYTES if buffer_pool else None
    sandbox(conn)
    kept = f"the previous {schema}.{name} table is kept"
    try:
        return create_table_as(conn, f"{ident(schema)}.{ident(name)}", select_sql, timeout=timeout,
                               max_rows=max_rows, memory_bytes=memory)
    except StatementTimeout:
        raise SegmentSqlError(f"{what}: stopped after {timeout:g} seconds, the time limit of one catalog SQL "
                              f"statement (WORKFLOW_PLATFORM_SQL_TIMEOUT); {kept}") from None
    except TooManyRows:
        raise SegmentSqlError(f"{what}: returns more than {max_rows:,} rows, the row limit of one catalog SQL "
                              f"statement (WORKFLOW_PLATFORM_SQL_MAX_ROWS); {kept}") from None
    except duckdb.OutOfMemoryException:
        raise SegmentSqlError(f"{what}: needs more memory than one catalog SQL statement may take (about "
                              f"{MEMORY_ALLOWANCE_FACTOR} x the warehouse memory limit, WORKFLOW_PLATFORM_MEMORY_LIMIT, "
                              f"+ 1 GB); {kept}") from None


def threshold_breaches(rows: int, min_rows: int | None, max_rows: int | None) -> str | None:
    """A description of how `rows` falls outside [min_rows, max_rows], or None when inside."""
    if min_rows is not None and rows < min_rows:
        return f"{rows} rows is below the minimum of {min_rows}"
    if max_rows is not None and rows > max_rows:
        return f"{rows} rows is above the maximum of {max_rows}"
    return None
