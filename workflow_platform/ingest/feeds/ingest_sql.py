"""A courier's ingest SQL: one SELECT over `file` (the rows of one file as its reader gives them: text columns
for delimited files, DuckDB's types for JSON, NDJSON and Parquet) whose result the feed types and standardizes
instead of the file's own columns. It flattens nested JSON, splits or combines columns, filters rows.

The catalog check refuses SQL that names any table but `file` or calls a table function; here, as a second line
of defence, the SQL runs on its own in-memory DuckDB connection with external access off, which holds nothing but
the file's rows (handed over as Arrow): it can reach no file, URL or warehouse table, whatever the parser let
through. Errors name the file and never quote a value.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa

from workflow_platform.ingest.files.reading import UnreadableFile
from workflow_platform.sql import user_select

QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def run_ingest_sql(conn: duckdb.DuckDBPyConnection, rows: pa.Table, sql: str, label: str, relation: str) -> None:
    """Register the result of `sql` over `rows` (the file's rows, as `file`) as the relation `relation` of
    `conn`. A failing SQL raises UnreadableFile."""
    with duckdb.connect() as box:
        box.execute("SET enable_external_access = false")
        box.register("file", rows)
        try:
            result = box.sql(user_select(sql)).to_arrow_table()
        except duckdb.Error as exc:
            raise UnreadableFile(f"{label}: its courier's ingest_sql failed: {first_line(exc)}") from exc
    conn.register(relation, result)


def first_line(exc: Exception) -> str:
    """DuckDB's first error line with anything quoted hidden (a conversion error quotes the row's value)."""
    text = str(exc).strip()
    return QUOTED.sub("(…)", text.splitlines()[0] if text else type(exc).__name__)[:300]
