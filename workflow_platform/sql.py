"""Tiny helpers for building DuckDB SQL safely from catalog names, and for running a catalog's own SELECTs."""

from __future__ import annotations

from contextlib import contextmanager

import duckdb


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def table_exists(conn, qualified: str) -> bool:
    schema, _, name = qualified.replace('"', "").partition(".")
    return bool(
        conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, name]
        ).fetchone()[0]
    )


@contextmanager
def transaction(conn):
    """BEGIN ... COMMIT, rolled back when the body raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def user_select(sql: str) -> str:
    """A catalog SELECT wrapped as a subquery, so DuckDB refuses a data-modifying WITH clause inside it
    (`WITH d AS (DELETE ... RETURNING *) SELECT ...` would otherwise run)."""
    return f"SELECT * FROM (\n{sql.strip().rstrip(';')}\n)"


def sandbox(conn: duckdb.DuckDBPyConnection) -> None:
    """From here on this connection reads and writes the warehouse only: no files, no URLs (one way)."""
    conn.execute("SET enable_external_access = false")
