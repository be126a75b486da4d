"""The load audit tables: `audit.rejects`, every row a load refused, and `audit.value_problems`, every value it
loaded as NULL because it did not fit its column (the value policy, docs/catalog.md); each with file, line,
column, value and reason.

A load collects both in temporary tables and `commit_rejects` copies them in the load's transaction, so a
crashed or refused load leaves nothing behind and a re-run records them once.
"""

from __future__ import annotations

REJECTS_TABLE = "audit.rejects"
PENDING_REJECTS = "temp.main.wp_rejects"
VALUE_PROBLEMS_TABLE = "audit.value_problems"
PENDING_VALUE_PROBLEMS = "temp.main.wp_value_problems"
COLUMNS = ("courier VARCHAR, feed VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, value VARCHAR, "
           "reason VARCHAR, rejected_at TIMESTAMP")


def ensure_rejects_table(conn) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} ({COLUMNS})")
    conn.execute(f"ALTER TABLE {REJECTS_TABLE} ADD COLUMN IF NOT EXISTS load_id VARCHAR")


def ensure_pending_rejects(conn) -> None:
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PENDING_REJECTS.removeprefix('temp.main.')} ({COLUMNS})")
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PENDING_VALUE_PROBLEMS.removeprefix('temp.main.')} ({COLUMNS})")


def commit_rejects(conn, load_id: str, with_values: bool = True) -> int:
    """Copy the load's rejects into audit.rejects and its nulled values into audit.value_problems (call inside
    the load's transaction; without `with_values` when none of the data loads); returns how many rows were
    rejected."""
    ensure_rejects_table(conn)
    ensure_pending_rejects(conn)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {VALUE_PROBLEMS_TABLE} ({COLUMNS}, load_id VARCHAR)")
    count = conn.execute(f"SELECT count(*) FROM {PENDING_REJECTS}").fetchone()[0]
    conn.execute(f"INSERT INTO {REJECTS_TABLE} SELECT *, ? FROM {PENDING_REJECTS}", [load_id])
    if with_values:
        conn.execute(f"INSERT INTO {VALUE_PROBLEMS_TABLE} SELECT *, ? FROM {PENDING_VALUE_PROBLEMS}", [load_id])
    conn.execute(f"DELETE FROM {PENDING_REJECTS}")
    conn.execute(f"DELETE FROM {PENDING_VALUE_PROBLEMS}")
    return count
