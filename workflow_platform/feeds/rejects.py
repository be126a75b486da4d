"""The rejects table: every row a load refused, with file, line, column, value and reason."""

from __future__ import annotations

REJECTS_TABLE = "audit.rejects"


def ensure_rejects_table(conn) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} (courier VARCHAR, feed VARCHAR, file VARCHAR, line BIGINT, "
        "column_name VARCHAR, value VARCHAR, reason VARCHAR, rejected_at TIMESTAMP)"
    )
