"""The file manifest `audit.files`: every file a courier met, by content (sha256), and what became of it.

Statuses: `loaded` (its rows are in the domain table), `duplicate` (identical to a file already loaded: 0 rows
added), `rejected` (over the feed's error threshold; it stays in the landing location and is skipped until a run
raises the threshold), `quarantined` (refused as a whole and moved to the location's quarantine folder), `dropped`
(loaded, then its domain table was dropped: it loads again). Rows of a load are written in the same
transaction as the merge into the domain table (domain/assets.py), so a crash leaves both old or both new.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

import duckdb
import fsspec

from workflow_platform.couriers.landing import LandedFile

MANIFEST_TABLE = "audit.files"


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
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {MANIFEST_TABLE} (courier VARCHAR NOT NULL, feed VARCHAR, file VARCHAR NOT NULL, "
        "bytes BIGINT, sha256 VARCHAR NOT NULL, status VARCHAR NOT NULL, reason VARCHAR, load_id VARCHAR, "
        "rows_read BIGINT, rows_loaded BIGINT, rows_rejected BIGINT, columns JSON, same_as VARCHAR, "
        "recorded_at TIMESTAMP)"
    )
    conn.execute(f"ALTER TABLE {MANIFEST_TABLE} ADD COLUMN IF NOT EXISTS values_nulled BIGINT DEFAULT 0")


def sha256_of(fs: fsspec.AbstractFileSystem, landed: LandedFile) -> str:
    """The file's sha256, read in 1 MiB chunks through the location's filesystem."""
    digest = hashlib.sha256()
    with fs.open(landed.url, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
