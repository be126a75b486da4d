"""Segments and queries: a catalog SELECT materialized as `segment.<name>`."""

from __future__ import annotations

import duckdb

from workflow_platform.catalog.models import Segment
from workflow_platform.sql import ident, sandbox, user_select


class SegmentSqlError(Exception):
    """The segment's SQL failed at run time (a problem the catalog check could not see)."""


def build_segment(conn: duckdb.DuckDBPyConnection, segment: Segment) -> int:
    conn.execute("CREATE SCHEMA IF NOT EXISTS segment")
    sandbox(conn)
    target = f"segment.{ident(segment.name)}"
    try:
        conn.execute(f"CREATE OR REPLACE TABLE {target} AS {user_select(segment.sql)}")
    except duckdb.Error as exc:
        raise SegmentSqlError(f"segment {segment.name!r}: {str(exc).splitlines()[0]}") from exc
    return conn.execute(f"SELECT count(*) FROM {target}").fetchone()[0]


def threshold_breaches(rows: int, min_rows: int | None, max_rows: int | None) -> str | None:
    """A description of how `rows` falls outside [min_rows, max_rows], or None when inside."""
    if min_rows is not None and rows < min_rows:
        return f"{rows} rows is below the minimum of {min_rows}"
    if max_rows is not None and rows > max_rows:
        return f"{rows} rows is above the maximum of {max_rows}"
    return None
