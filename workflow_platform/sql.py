"""Tiny helpers for building DuckDB SQL safely from catalog names."""

from __future__ import annotations

from contextlib import contextmanager


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
