"""The load's audit tables, in one place: the file manifest `audit.files` (every file a courier met, by content,
and what became of it), `audit.rejects` (every row a load refused) and `audit.value_problems` (every value it
loaded as NULL because it did not fit its column: the value policy, docs/catalog.md).

File statuses: `loaded` (its rows are in the domain table), `duplicate` (identical to a file already loaded: 0 rows
added), `rejected` (over the feed's error threshold; it stays in the landing location and is skipped until a run
raises the threshold), `quarantined` (refused as a whole and moved to the location's quarantine folder), `dropped`
(loaded, then its domain table was dropped: it loads again).

A load collects its rejects and value problems in temporary tables; `commit_rejects` copies them, and `record`
writes its manifest rows, in the same transaction as the merge into the domain table (ingest/step.py): a crashed
or refused load leaves nothing behind, and a re-run records them once.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import duckdb

from workflow_platform.sql import has_column, retry_conflicts

MANIFEST_TABLE = "audit.files"
REJECTS_TABLE = "audit.rejects"
PENDING_REJECTS = "temp.main.wp_rejects"
VALUE_PROBLEMS_TABLE = "audit.value_problems"
PENDING_VALUE_PROBLEMS = "temp.main.wp_value_problems"
COLUMNS = ("courier VARCHAR, feed VARCHAR, file VARCHAR, line BIGINT, column_name VARCHAR, value VARCHAR, "
           "reason VARCHAR, rejected_at TIMESTAMP")


@dataclass
class FileEntry:
    """One file's manifest row."""

    courier: str
    feed: str
    file: str
    bytes: int
    sha256: str
    status: str
    reason: str = ""
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # the file's columns and reader types
    same_as: str = ""  # a duplicate: the file it repeats
    values_nulled: int = 0  # values loaded as NULL (audit.value_problems)

    def row(self, load_id: str, now: dt.datetime) -> list:
        return [self.courier, self.feed, self.file, self.bytes, self.sha256, self.status, self.reason, load_id,
                self.rows_read, self.rows_loaded, self.rows_rejected, json.dumps(self.columns), self.same_as, now,
                self.values_nulled]


def ensure_manifest(conn: duckdb.DuckDBPyConnection) -> None:
    """Create audit.files (or add its newer columns) unless it is there: no DDL at all when it is, so loads of
    different feeds on a DuckLake never alter it at the same time."""
    if has_column(conn, "audit", "files", "values_nulled"):
        return

    def create() -> None:
        conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {MANIFEST_TABLE} (courier VARCHAR NOT NULL, feed VARCHAR, "
            "file VARCHAR NOT NULL, bytes BIGINT, sha256 VARCHAR NOT NULL, status VARCHAR NOT NULL, reason VARCHAR, "
            "load_id VARCHAR, rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT, columns JSON, "
            "same_as VARCHAR, recorded_at TIMESTAMP)"
        )
        conn.execute(f"ALTER TABLE {MANIFEST_TABLE} ADD COLUMN IF NOT EXISTS values_nulled BIGINT DEFAULT 0")

    retry_conflicts(create)


def earlier(conn: duckdb.DuckDBPyConnection, courier: str, digests: list[str]) -> dict[str, tuple[str, str]]:
    """sha256 -> ("loaded", file) for content this courier loaded before, else ("rejected", file) for content it
    rejected before (latest first); one query for the whole run."""
    rows = conn.execute(
        f"SELECT sha256, status, file FROM {MANIFEST_TABLE} WHERE courier = ? AND status IN ('loaded', 'rejected') "
        "AND sha256 IN (SELECT unnest(?::VARCHAR[])) ORDER BY status = 'loaded', recorded_at",
        [courier, digests]).fetchall()
    return {digest: (status, file) for digest, status, file in rows}  # later rows win: loaded, then the latest


def last_loaded_columns(conn: duckdb.DuckDBPyConnection, courier: str) -> tuple[str, dict[str, str]] | None:
    """(file, columns) of the courier's most recently loaded file, for type-drift checks."""
    row = conn.execute(
        f"SELECT file, columns FROM {MANIFEST_TABLE} WHERE courier = ? AND status = 'loaded' "
        "ORDER BY recorded_at DESC LIMIT 1", [courier]).fetchone()
    return (row[0], json.loads(row[1]) if row[1] else {}) if row else None


def record(conn: duckdb.DuckDBPyConnection, entries: list[FileEntry], load_id: str, once: bool = False) -> None:
    """Write manifest rows (in the caller's transaction, if any). `once`: skip an entry whose courier, file,
    content and status are recorded already (a duplicate still sitting in the landing folder is noted once)."""
    ensure_manifest(conn)
    if once and entries:
        recorded = set(conn.execute(
            f"SELECT courier, file, sha256, status FROM {MANIFEST_TABLE} WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))",
            [[e.sha256 for e in entries]]).fetchall())
        entries = [e for e in entries if (e.courier, e.file, e.sha256, e.status) not in recorded]
    if not entries:
        return
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    conn.executemany(f"INSERT INTO {MANIFEST_TABLE} VALUES ({', '.join(['?'] * 15)})",
                     [e.row(load_id, now) for e in entries])


def mark_dropped(conn: duckdb.DuckDBPyConnection, couriers: list[str]) -> int:
    """After a domain table is dropped, its loaded files no longer count as loaded (they load again)."""
    ensure_manifest(conn)
    return conn.execute(
        f"UPDATE {MANIFEST_TABLE} SET status = 'dropped' WHERE status = 'loaded' AND courier IN "
        f"(SELECT unnest(?::VARCHAR[]))", [couriers]).fetchone()[0]


def ensure_rejects_table(conn) -> None:
    """audit.rejects and audit.value_problems, created (or given load_id) only when they are not there yet."""
    if has_column(conn, "audit", "rejects", "load_id") and has_column(conn, "audit", "value_problems", "load_id"):
        return
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} ({COLUMNS})")
    conn.execute(f"ALTER TABLE {REJECTS_TABLE} ADD COLUMN IF NOT EXISTS load_id VARCHAR")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {VALUE_PROBLEMS_TABLE} ({COLUMNS}, load_id VARCHAR)")


def ensure_pending_rejects(conn) -> None:
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PENDING_REJECTS.removeprefix('temp.main.')} ({COLUMNS})")
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {PENDING_VALUE_PROBLEMS.removeprefix('temp.main.')} ({COLUMNS})")


def commit_rejects(conn, load_id: str, with_values: bool = True) -> int:
    """Copy the load's rejects into audit.rejects and its nulled values into audit.value_problems (call inside
    the load's transaction; without `with_values` when none of the data loads); returns how many rows were
    rejected."""
    ensure_rejects_table(conn)
    ensure_pending_rejects(conn)
    count = conn.execute(f"SELECT count(*) FROM {PENDING_REJECTS}").fetchone()[0]
    conn.execute(f"INSERT INTO {REJECTS_TABLE} SELECT *, ? FROM {PENDING_REJECTS}", [load_id])
    if with_values:
        conn.execute(f"INSERT INTO {VALUE_PROBLEMS_TABLE} SELECT *, ? FROM {PENDING_VALUE_PROBLEMS}", [load_id])
    conn.execute(f"DELETE FROM {PENDING_REJECTS}")
    conn.execute(f"DELETE FROM {PENDING_VALUE_PROBLEMS}")
    return count
