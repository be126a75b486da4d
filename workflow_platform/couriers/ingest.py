"""Land a courier's files into `raw.<courier>` with DuckDB's own readers (no pandas on the data path).

Every value lands as text; typing happens in the feed. Each row keeps its file, the file's date, the
file's position in the load (`_seq`) and, through `raw.<courier>__files`, its line number.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from workflow_platform.catalog.models import Courier, Feed, FileFormat
from workflow_platform.couriers.landing import LandedFile
from workflow_platform.sql import ident
from workflow_platform.sql import literal as sql_literal


class CourierError(Exception):
    """A file could not be landed; the message names the file and what is wrong."""


@dataclass(frozen=True)
class LandedBatch:
    files: int
    rows: int
    bad_lines: int  # structurally malformed CSV lines, recorded in audit.rejects


def raw_table(courier: Courier) -> str:
    return f"raw.{ident(courier.name)}"


def files_table(courier: Courier) -> str:
    return f"raw.{ident(courier.name + '__files')}"


def _reader(url: str, fmt: FileFormat, compression: str | None = None) -> str:
    path = sql_literal(url)
    if fmt.format in ("csv", "tsv", "psv", "delimited"):
        options = [
            "all_varchar = true",
            f"header = {str(fmt.header).lower()}",
            f"delim = {sql_literal(fmt.separator)}",
            f"quote = {sql_literal(fmt.quote)}",
            f"escape = {sql_literal(fmt.escape or fmt.quote)}",
            f"encoding = {sql_literal(fmt.encoding)}",
            f"compression = {sql_literal(compression or ('auto' if fmt.compression in ('auto', 'zip') else fmt.compression))}",
            "store_rejects = true",
            "rejects_scan = 'wp_reject_scans'",
            "rejects_table = 'wp_reject_errors'",
            "null_padding = false",
        ]
        return f"read_csv({path}, {', '.join(options)})"
    if fmt.format in ("json", "ndjson"):
        layout = "newline_delimited" if fmt.format == "ndjson" else "auto"
        comp = compression or ("auto" if fmt.compression in ("auto", "zip") else fmt.compression)
        return f"read_json({path}, format = '{layout}', compression = {sql_literal(comp)})"
    return f"read_parquet({path})"


def _source_columns(conn: duckdb.DuckDBPyConnection, reader: str) -> list[str]:
    return [row[0] for row in conn.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()]


def _column_map(feed: Feed, columns: list[str], fmt: FileFormat, label: str) -> dict[str, str]:
    """feed column -> source column; a missing column is an error naming the file."""
    if not fmt.header and fmt.format not in ("json", "ndjson", "parquet"):
        if len(columns) < len(feed.columns):
            raise CourierError(f"{label}: has {len(columns)} columns, feed {feed.name!r} declares {len(feed.columns)}")
        return {c.name: columns[i] for i, c in enumerate(feed.columns)}
    by_name = {c.strip().lower(): c for c in columns}
    missing = [c.name for c in feed.columns if c.name.lower() not in by_name]
    if missing:
        raise CourierError(
            f"{label}: missing column(s) {', '.join(missing)} required by feed {feed.name!r}; "
            f"the file has {', '.join(columns)}"
        )
    return {c.name: by_name[c.name.lower()] for c in feed.columns}


def land_files(
    conn: duckdb.DuckDBPyConnection, courier: Courier, feed: Feed, files: list[LandedFile], filesystems=()
) -> LandedBatch:
    """Replace `raw.<courier>` with the rows of `files` (in order). Runs in the caller's transaction."""
    for fs in filesystems:
        conn.register_filesystem(fs)
    fmt = courier.file
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    columns_sql = ", ".join(f"{ident(c.name)} VARCHAR" for c in feed.columns)
    conn.execute(
        f"CREATE OR REPLACE TABLE {raw_table(courier)} ({columns_sql}, _file VARCHAR, _file_date DATE, _seq INTEGER)"
    )
    conn.execute(
        f"CREATE OR REPLACE TABLE {files_table(courier)} (_seq INTEGER, _file VARCHAR, _file_date DATE, "
        "first_rowid BIGINT, rows BIGINT, header_rows INTEGER, bytes BIGINT, bad_lines BIGINT)"
    )
    total = bad = 0
    with tempfile.TemporaryDirectory(prefix="wp-unzip-") as scratch:
        seq = 0
        for landed in files:
            for url, label, compression in _members(landed, fmt, Path(scratch)):
                seq += 1
                rows, bad_lines = _land_one(conn, courier, feed, url, label, landed, seq, compression)
                total += rows
                bad += bad_lines
    return LandedBatch(files=len(files), rows=total, bad_lines=bad)


def _members(landed: LandedFile, fmt: FileFormat, scratch: Path):
    """(url, label, compression) per readable member: zip archives are unpacked, others read as they are."""
    is_zip = fmt.compression == "zip" or (fmt.compression == "auto" and landed.relative.lower().endswith(".zip"))
    if not is_zip:
        yield landed.url, landed.relative, None
        return
    import fsspec

    try:
        with fsspec.open(landed.url, "rb") as handle, zipfile.ZipFile(handle) as archive:
            names = sorted(n for n in archive.namelist() if not n.endswith("/"))
            if not names:
                raise CourierError(f"{landed.relative}: zip archive is empty")
            for index, name in enumerate(names):
                target = scratch / f"{index}-{Path(name).name}"
                with archive.open(name) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                yield str(target), f"{landed.relative}!{name}", "none"
    except zipfile.BadZipFile as exc:
        raise CourierError(f"{landed.relative}: not a readable zip archive ({exc})") from exc


def _land_one(conn, courier: Courier, feed: Feed, url: str, label: str, landed: LandedFile, seq: int,
              compression: str | None) -> tuple[int, int]:
    fmt = courier.file
    reader = _reader(url, fmt, compression)
    try:
        mapping = _column_map(feed, _source_columns(conn, reader), fmt, label)
        first_rowid = conn.execute(f"SELECT count(*) FROM {raw_table(courier)}").fetchone()[0]
        select = ", ".join(f"CAST({ident(src)} AS VARCHAR)" for src in mapping.values())
        day = "NULL" if landed.day is None else f"DATE '{landed.day.isoformat()}'"
        conn.execute(
            f"INSERT INTO {raw_table(courier)} SELECT {select}, {sql_literal(label)}, {day}, {seq} FROM {reader}"
        )
    except duckdb.Error as exc:
        message = str(exc).split("\n\n")[0].strip()
        raise CourierError(f"{label}: cannot be read as {fmt.format}: {message}") from exc
    rows = conn.execute(f"SELECT count(*) FROM {raw_table(courier)}").fetchone()[0] - first_rowid
    bad_lines = _record_bad_lines(conn, courier, feed, label) if fmt.format in ("csv", "tsv", "psv", "delimited") else 0
    header_rows = 1 if (fmt.header and fmt.format in ("csv", "tsv", "psv", "delimited")) else 0
    conn.execute(
        f"INSERT INTO {files_table(courier)} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [seq, label, landed.day, first_rowid, rows, header_rows, landed.size, bad_lines],
    )
    return rows, bad_lines


def _record_bad_lines(conn, courier: Courier, feed: Feed, label: str) -> int:
    """Move DuckDB's structural CSV errors for this file into audit.rejects."""
    exists = conn.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'wp_reject_errors'"
    ).fetchone()[0]
    if not exists:
        return 0
    from workflow_platform.feeds.rejects import ensure_rejects_table

    ensure_rejects_table(conn)
    bad = conn.execute(
        "INSERT INTO audit.rejects SELECT ?, ?, ?, line, coalesce(column_name, ''), left(csv_line, 500), "
        "error_type || ': ' || error_message, now() FROM ("
        "  SELECT DISTINCT ON (line) * FROM wp_reject_errors ORDER BY line, column_idx)",  # one row per bad line
        [courier.name, feed.name, label],
    ).fetchone()[0]
    conn.execute("DELETE FROM wp_reject_errors")
    conn.execute("DELETE FROM wp_reject_scans")
    return int(bad or 0)
