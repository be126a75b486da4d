"""When a catalog table needs rebuilding: its version is a digest of its definition and of what each table it
reads holds now. A domain table (feed or custom) holds its rows' count and newest `_updated`; any other table its
row count and the sum of its rows' hashes (one scan; content, not the time it was written, so a Stitch table
rebuilt with the same rows is unchanged; a sum, not an XOR, so repeated rows do not cancel out). The version a table was built from is kept in the warehouse,
`audit.table_versions`, beside the data.

Refresh modes (Amperity's, selectable per run with the tag `workflow_platform/refresh_mode`):

- `express`: rebuild a table only when its version changed (or it does not exist);
- `normal` (the default): also every table whose SQL reads the clock or a random source (CURRENT_DATE, now(),
  random(), ...), whose result changes with the day;
- `full`: rebuild every table.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import dagster as dg
import duckdb

from workflow_platform.sql import ident, is_lake, table_exists
from workflow_platform.tags import REFRESH_MODE_TAG

VERSIONS_TABLE = "audit.table_versions"
REFRESH_MODES = ("express", "normal", "full")


def refresh_mode(run: dg.DagsterRun) -> str:
    """The run's refresh mode (tag `workflow_platform/refresh_mode`, default normal); another value fails the step."""
    mode = (run.tags.get(REFRESH_MODE_TAG) or "normal").strip().lower()
    if mode not in REFRESH_MODES:
        raise dg.Failure(description=f"refresh mode {mode!r} (tag {REFRESH_MODE_TAG}): use express, normal or full")
    return mode


def table_version(conn: duckdb.DuckDBPyConnection, definition: object, reads: list[str]) -> str:
    """A digest of `definition` (anything JSON: SQL, declared columns) and of the tables `reads` (schema.table)."""
    state = [[name, *_contents(conn, name)] for name in reads]
    return hashlib.sha256(json.dumps([definition, state], default=str).encode()).hexdigest()[:16]


def _contents(conn: duckdb.DuckDBPyConnection, qualified: str) -> list:
    if not table_exists(conn, qualified):
        return [None, None]
    schema, name = qualified.split(".", 1)
    relation = f"{ident(schema)}.{ident(name)}"
    columns = {r[0] for r in conn.execute(f"DESCRIBE {relation}").fetchall()}
    if schema == "domain" and "_updated" in columns:
        row = conn.execute(f"SELECT count(*), CAST(max(_updated) AS VARCHAR) FROM {relation}").fetchone()
    else:
        row = conn.execute(f"SELECT count(*), CAST(sum(CAST(hash(t) AS HUGEINT)) AS VARCHAR) FROM {relation} t"
                           ).fetchone()
    return list(row)


def built_version(conn: duckdb.DuckDBPyConnection, qualified: str) -> str | None:
    """The version `qualified` was last built from (None: never, or before versions were kept)."""
    if not table_exists(conn, VERSIONS_TABLE):
        return None
    row = conn.execute(f"SELECT inputs_version FROM {VERSIONS_TABLE} WHERE name = ?", [qualified]).fetchone()
    return row[0] if row else None


def record_version(conn: duckdb.DuckDBPyConnection, qualified: str, version: str) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    lake = is_lake(conn)  # a DuckLake has no PRIMARY KEY: delete, then insert
    conn.execute(f"CREATE TABLE IF NOT EXISTS {VERSIONS_TABLE} (name VARCHAR{'' if lake else ' PRIMARY KEY'}, "
                 "inputs_version VARCHAR, built_at TIMESTAMP)")  # built_at in UTC
    if lake:
        conn.execute(f"DELETE FROM {VERSIONS_TABLE} WHERE name = ?", [qualified])
    conn.execute(f"INSERT {'' if lake else 'OR REPLACE '}INTO {VERSIONS_TABLE} VALUES (?, ?, ?)",
                 [qualified, version, dt.datetime.now(dt.UTC).replace(tzinfo=None)])


def needs_rebuild(conn: duckdb.DuckDBPyConnection, qualified: str, version: str, mode: str,
                  time_dependent: bool) -> str | None:
    """Why `qualified` is rebuilt in refresh `mode` (None: it is not)."""
    if mode == "full":
        return "refresh mode full"
    if not table_exists(conn, qualified):
        return "not built yet"
    if built_version(conn, qualified) != version:
        return "a table it reads (or its definition) changed"
    if mode == "normal" and time_dependent:
        return "its SQL reads the clock or a random source (refresh mode normal)"
    return None
