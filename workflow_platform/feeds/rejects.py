"""The rejects table: every row a load refused, with file, line, column, value and reason.

A load collects its rejects in a temporary table and `commit_rejects` copies them in the load's transaction,
so a crashed or refused load leaves no rejects behind and a re-run records them once.
"""

from __future__ import annotations

REJECTS_TABLE = "audit.rejects"
PENDING_REJECTS = "temp.main.wp_rejects"
COLUMNS = ("courier VARCHAR, feed VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, value VARCHAR, "
           "reason VARCHAR, rejected_at TIMESTAMP")


def ensure_rejects_table(conn) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} ({COLUMNS})")
    conn.execute(f"ALTER TABLE {REJECTS_TABLE} ADD COLUMN IF NOT EXISTS load_id VARCHAR")


def ensure_pending_rejects(conn) -> None:
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PENDING_REJECTS.removeprefix('temp.main.')} ({COLUMNS})")


def commit_rejects(conn, load_id: str) -> int:
    """Copy the load's rejects into audit.rejects (call inside the load's transaction); returns how many."""
    ensure_rejects_table(conn)
    ensure_pending_rejects(conn)
    count = conn.execute(f"SELECT count(*) FROM {PENDING_REJECTS}").fetchone()[0]
    conn.execute(f"INSERT INTO {REJECTS_TABLE} SELECT *, ? FROM {PENDING_REJECTS}", [load_id])
    conn.execute(f"DELETE FROM {PENDING_REJECTS}")
    return count
