"""A courier's ingest SQL: one SELECT over `file` (the rows of one file as its reader gives them: text columns
for delimited files, DuckDB's types for JSON, NDJSON and Parquet) whose result the feed types and standardizes
instead of the file's own columns. It flattens nested JSON, splits or combines columns, filters rows.

The catalog check refuses SQL that names any table but `file` or calls a table function; here, as a second line
of defence, the SQL runs on its own in-memory DuckDB connection with external access off, which holds nothing but
the file's rows (handed over as Arrow): it can reach no file, URL or warehouse table, whatever the parser let
through, within the memory and row limits of one catalog statement. Errors name the file and the kind of error,
never DuckDB's text (it can quote the file's values).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from workflow_platform.ingest.files.reading import UnreadableFile
from workflow_platform.settings import sql_max_rows, warehouse_memory_limit
from workflow_platform.sql import user_select


def run_ingest_sql(conn: duckdb.DuckDBPyConnection, rows: pa.Table, sql: str, label: str, relation: str) -> None:
    """Register the result of `sql` over `rows` (the file's rows, as `file`) as the relation `relation` of
    `conn`. A failing SQL, or one past the limits of one catalog statement (the warehouse's memory limit, no
    spilling, WORKFLOW_PLATFORM_SQL_MAX_ROWS rows), raises UnreadableFile."""
    max_rows = sql_max_rows()
    with duckdb.connect() as box:
        box.execute(f"SET memory_limit = '{warehouse_memory_limit()}'")
        box.execute("SET max_temp_directory_size = '0B'")
        box.execute("SET enable_external_access = false")
        box.register("file", rows)
        try:
            result = box.sql(f"SELECT * FROM ({user_select(sql)}) LIMIT {max_rows + 1}").to_arrow_table()
        except duckdb.Error as exc:
            raise UnreadableFile(f"{label}: its courier's ingest_sql failed: {error_kind(exc)}") from exc
    if result.num_rows > max_rows:
        raise UnreadableFile(f"{label}: its courier's ingest_sql returns more than {max_rows:,} rows, the row limit "
                             "of one catalog SQL statement (WORKFLOW_PLATFORM_SQL_MAX_ROWS)")
    conn.register(relation, result)


def error_kind(exc: duckdb.Error) -> str:
    """What kind of error DuckDB raised, and where to look; never its text, which can hold the row's values
    (a conversion error quotes the value; JSON and overflow errors show it unquoted)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = first.split(":", 1)[0] if ":" in first[:40] else type(exc).__name__
    return (f"{kind} (DuckDB's message is not shown: it can quote the file's values; run the SQL on a copy of "
            "the file, e.g. with the duckdb CLI, to see it)")
