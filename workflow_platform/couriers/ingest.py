"""Read a courier's files with DuckDB's own readers (no pandas on the data path).

The courier step checks every file it found (readable, with the feed's columns; `check_file`) and records the
ones to load, in load order, in `raw.<courier>__files`. The feed step then reads each file once, straight into
its staging table (see feeds/typing.py), so the data is written once before the domain table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from workflow_platform.catalog.models import Courier, Feed, FileFormat
from workflow_platform.couriers.landing import LandedFile
from workflow_platform.couriers.textfiles import (
    DELIMITED,
    FileRefused,
    Header,
    binary_kind,
    check_expansion,
    compression_of,
    copy_limited,
    describe_columns,
    has_lines_after,
    looks_like_data,
    open_binary,
    read_header,
    unpacked_size_check,
)
from workflow_platform.feeds.rejects import PENDING_REJECTS, ensure_pending_rejects
from workflow_platform.sql import ident
from workflow_platform.sql import literal as sql_literal

GLOB_CHARACTERS = re.compile(r"[*?\[\]{}]")
QUOTED = re.compile(r"""("[^"]*"|'[^']*')""")


class CourierError(Exception):
    """A file cannot be read as configured; the message names the file and what is wrong (never its values)."""


@dataclass(frozen=True)
class Readable:
    """One readable unit: a landed file, or a member of a zip archive extracted to a scratch folder."""

    url: str
    label: str  # the name recorded in _file: the path relative to the location (plus !member for archives)
    day: dt.date | None
    compression: str | None = None  # forced compression (extracted members are plain)

    def unpacking(self, fmt: FileFormat) -> str | None:
        """'gzip' when this unit is read through gzip, else None."""
        return compression_of(self.label, fmt, self.compression)


def files_table(courier: Courier) -> str:
    """The files a courier's last run loads, in load order (the history of all files is couriers/manifest.py)."""
    return f"raw.{ident(courier.name + '__files')}"


def header_of(readable: Readable, fmt: FileFormat) -> Header:
    """A delimited unit's header (couriers/textfiles.py); a whole-file problem raises CourierError."""
    try:
        return read_header(readable.url, readable.label, fmt, readable.unpacking(fmt))
    except FileRefused as exc:
        raise CourierError(str(exc)) from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CourierError(f"{readable.label}: not a readable gzip file ({type(exc).__name__})") from exc


def reader_sql(readable: Readable, fmt: FileFormat, header: Header | None = None,
               text_columns: list[str] | None = None) -> str:
    """DuckDB's reader for a file. Delimited files are read with everything stated (`header`: the columns and
    encoding read by couriers/textfiles.py; no sniffing); `text_columns` makes a JSON reader keep those keys as
    text (as CSV does), so date formats apply to what the file says, not to what DuckDB guessed."""
    path = sql_literal(readable.url)
    compression = readable.compression or ("auto" if fmt.compression in ("auto", "zip") else fmt.compression)
    if fmt.format in DELIMITED:
        header = header or header_of(readable, fmt)
        columns = ", ".join(f"{sql_literal(name)}: 'VARCHAR'" for name in header.reader_names())
        options = [
            "auto_detect = false",
            f"columns = {{{columns}}}",
            f"header = {str(fmt.header).lower()}",
            f"delim = {sql_literal(fmt.separator)}",
            f"quote = {sql_literal(fmt.quote)}",
            f"escape = {sql_literal(fmt.escape or fmt.quote)}",
            f"encoding = {sql_literal(header.encoding)}",
            f"compression = {sql_literal(compression)}",
            f"max_line_size = {int(fmt.limits.max_line_bytes)}",
            "store_rejects = true",
            "rejects_scan = 'wp_reject_scans'",
            "rejects_table = 'wp_reject_errors'",
            "null_padding = false",
        ]
        return f"read_csv({path}, {', '.join(options)})"
    if fmt.format in ("json", "ndjson"):
        layout = "newline_delimited" if fmt.format == "ndjson" else "auto"
        columns = ""
        if text_columns:
            columns = ", columns = {" + ", ".join(f"{sql_literal(c)}: 'VARCHAR'" for c in text_columns) + "}"
        return f"read_json({path}, format = '{layout}', compression = {sql_literal(compression)}{columns})"
    return f"read_parquet({path})"


def describe(conn: duckdb.DuckDBPyConnection, readable: Readable, fmt: FileFormat) -> dict[str, str]:
    """The file's columns and the types DuckDB's reader gives them; an unreadable file raises CourierError."""
    if fmt.format in DELIMITED:
        return dict.fromkeys(header_of(readable, fmt).names, "VARCHAR")
    if fmt.format in ("json", "ndjson"):  # DuckDB's JSON reader takes any bytes: refuse binary first
        with open_binary(readable.url, readable.unpacking(fmt)) as handle:
            kind = binary_kind(handle.read(4096))
        if kind:
            raise CourierError(f"{readable.label}: not a {fmt.format} text file: it looks like {kind}")
    try:
        return dict(row[:2] for row in conn.execute(f"DESCRIBE SELECT * FROM {reader_sql(readable, fmt)}").fetchall())
    except duckdb.Error as exc:
        raise read_error(readable, fmt, exc) from exc


def column_map(conn: duckdb.DuckDBPyConnection, readable: Readable, feed: Feed, fmt: FileFormat,
               described: dict[str, str] | list[str] | None = None) -> dict[str, str]:
    """feed column -> the reader's column; a missing or repeated column or an unreadable file raises
    CourierError. Reasons name the feed's columns; the file's own names only when they look like a header."""
    if described is None:
        described = header_of(readable, fmt).names if fmt.format in DELIMITED else describe(conn, readable, fmt)
    columns = list(described)
    if not fmt.header and fmt.format in DELIMITED:
        if len(columns) < len(feed.columns):
            raise CourierError(
                f"{readable.label}: has {len(columns)} columns, feed {feed.name!r} declares {len(feed.columns)}")
        return {c.name: columns[i] for i, c in enumerate(feed.columns)}
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(columns, start=1):
        positions.setdefault(name.strip().lower(), []).append(index)
    declared = [c.source_name for c in feed.columns]
    repeated = [f"{name!r} (columns {', '.join(map(str, positions[name.lower()]))})" for name in declared
                if len(positions.get(name.lower(), [])) > 1]
    if repeated:
        raise CourierError(f"{readable.label}: the header names {', '.join(repeated)} more than once; feed "
                           f"{feed.name!r} cannot tell which to load (rename one in the export, or read the file by "
                           "position with file.header: false)")
    missing = [name for name in declared if name.lower() not in positions]
    if missing:
        raise CourierError(f"{readable.label}: missing column(s) {', '.join(missing)} required by feed "
                           f"{feed.name!r}; {describe_columns(columns, declared)}")
    by_name = {c.strip().lower(): c for c in columns[::-1]}  # the first of a name (undeclared repeats are drift)
    return {c.name: by_name[c.source_name.lower()] for c in feed.columns}


def read_error(readable: Readable, fmt: FileFormat, exc: Exception) -> CourierError:
    """A reader's error as one clear line naming the file. DuckDB's messages can quote the line they stopped
    at, so only the first line is kept and anything quoted in it is left out."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "sniffing file" in first or "state machine" in first:
        detail = (f"it does not parse as {fmt.format} with delimiter {fmt.separator!r} and quote {fmt.quote!r} "
                  "(an unterminated quote, another delimiter, or not a text file?)")
    else:
        detail = QUOTED.sub("(…)", first.removeprefix("Invalid Input Error: ").removeprefix("IO Error: "))[:300]
    return CourierError(f"{readable.label}: cannot be read as {fmt.format}: {detail}")


@contextlib.contextmanager
def readables(landed: LandedFile, fmt: FileFormat) -> Iterator[list[Readable]]:
    """The readable units of a landed file: itself, or its zip members (extracted while the block runs, within
    the decompression limits of `file.limits`)."""
    is_zip = fmt.compression == "zip" or (fmt.compression == "auto" and landed.relative.lower().endswith(".zip"))
    if not is_zip:
        yield [Readable(landed.url, landed.relative, landed.day)]
        return
    with tempfile.TemporaryDirectory(prefix="wp-unzip-") as scratch:
        members = []
        try:
            with open_binary(landed.url) as handle, zipfile.ZipFile(handle) as archive:
                infos = sorted((i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename)
                if not infos:
                    raise CourierError(f"{landed.relative}: zip archive is empty")
                for index, info in enumerate(infos):
                    label = f"{landed.relative}!{info.filename}"
                    target = Path(scratch) / f"{index}-{Path(info.filename).name}"
                    check_expansion(label, info.file_size, max(info.compress_size, 1), fmt.limits)  # as declared
                    with archive.open(info) as src, open(target, "wb") as dst:  # zipfile stops at the declared size
                        copy_limited(src, dst, label, info.compress_size, fmt.limits)
                    members.append(Readable(str(target), label, landed.day, "none"))
        except zipfile.BadZipFile as exc:
            raise CourierError(f"{landed.relative}: not a readable zip archive ({exc})") from exc
        except FileRefused as exc:
            raise CourierError(str(exc)) from exc
        yield members


TYPE_FAMILIES = {"TINYINT": "integer", "SMALLINT": "integer", "INTEGER": "integer", "BIGINT": "integer",
                 "HUGEINT": "integer", "UTINYINT": "integer", "USMALLINT": "integer", "UINTEGER": "integer",
                 "UBIGINT": "integer", "FLOAT": "float", "DOUBLE": "float", "VARCHAR": "text", "BOOLEAN": "boolean",
                 "DATE": "date"}


def type_family(duckdb_type: str) -> str:
    """Types a file may move between without changing meaning (INTEGER -> BIGINT) share a family."""
    base = duckdb_type.split("(")[0].upper()
    return "timestamp" if base.startswith("TIMESTAMP") else TYPE_FAMILIES.get(base, base)


@dataclass
class FileCheck:
    """What checking a file found: its columns (reader types) and the columns the feed does not declare."""

    columns: dict[str, str]
    new_columns: list[str]


def check_file(conn: duckdb.DuckDBPyConnection, landed: LandedFile, feed: Feed, fmt: FileFormat, strict: bool,
               previous: tuple[str, dict[str, str]] | None = None) -> FileCheck:
    """Check that a landed file can be loaded by the feed, without reading its rows.

    Raises CourierError for a whole-file problem: a glob character in its name, 0 bytes, not readable in the
    courier's format, a missing column, an undeclared column when the feed is strict, or (typed formats) a
    feed column whose type changed family since `previous` (the courier's last loaded file and its columns)."""
    if GLOB_CHARACTERS.search(landed.relative):  # DuckDB's readers would expand it as a glob
        raise CourierError(f"{landed.relative}: file names with any of * ? [ ] {{ }} cannot be read safely; "
                           "rename the file")
    if landed.size == 0:
        raise CourierError(f"{landed.relative}: file is empty (0 bytes)")
    columns: dict[str, str] = {}
    new_columns: list[str] = []
    with readables(landed, fmt) as members:
        for readable in members:
            if readable.unpacking(fmt) == "gzip":
                try:  # a decompression bomb is refused before any reader spends time or disk on it
                    unpacked_size_check(readable.url, readable.label, fmt.limits)
                except (FileRefused, zlib.error, EOFError) as exc:
                    raise CourierError(str(exc) if isinstance(exc, FileRefused) else
                                       f"{readable.label}: not a readable gzip file ({type(exc).__name__})") from exc
            found = describe(conn, readable, fmt)
            mapping = column_map(conn, readable, feed, fmt, found)
            used = {c.lower() for c in mapping.values()}
            extra = [c for c in found if c.lower() not in used]
            if extra and strict:
                names = (f"{len(extra)} column(s)" if looks_like_data(extra)
                         else f"column(s) {', '.join(extra)}")
                raise CourierError(f"{readable.label}: {names} are not declared by feed {feed.name!r}, which is "
                                   "strict; declare them or set strict: false")
            new_columns += [c for c in extra if c not in new_columns]
            columns.update(found)
    if previous and fmt.format == "parquet":
        before_file, before = previous
        changed = [f"{c} was {before[c]} in {before_file}, now {t}" for c, t in columns.items()
                   if c in before and type_family(before[c]) != type_family(t)]
        if changed:
            raise CourierError(f"{landed.relative}: column type changed: {'; '.join(changed)}; fix the export or "
                               "change the feed's column types")
    return FileCheck(columns, new_columns)


def register_files(conn: duckdb.DuckDBPyConnection, courier: Courier, files: list[LandedFile]) -> None:
    """Record the files this run loads for the courier, in load order, in `raw.<courier>__files`."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
    conn.execute(f"CREATE OR REPLACE TABLE {files_table(courier)} (_seq INTEGER, _file VARCHAR, url VARCHAR, "
                 "_file_date DATE, bytes BIGINT)")
    if files:
        conn.executemany(f"INSERT INTO {files_table(courier)} VALUES (?, ?, ?, ?, ?)",
                         [[seq, f.relative, f.url, f.day, f.size] for seq, f in enumerate(files, start=1)])


def registered_files(conn: duckdb.DuckDBPyConnection, courier: Courier) -> list[LandedFile]:
    """The files the courier's current load registered, in load order."""
    rows = conn.execute(f"SELECT url, _file, _file_date, bytes FROM {files_table(courier)} ORDER BY _seq").fetchall()
    return [LandedFile(url, relative, day, size) for url, relative, day, size in rows]


# reasons for DuckDB's structural CSV errors, by error_type (its messages are kept after them)
LINE_REASON = """CASE error_type
  WHEN 'UNQUOTED VALUE' THEN 'the row ends inside a quoted value (an unterminated quote, or the file was cut off)'
  WHEN 'LINE SIZE OVER MAXIMUM' THEN 'the line is longer than file.limits.max_line_bytes'
  WHEN 'MISSING COLUMNS' THEN 'too few fields for the header'
  WHEN 'TOO MANY COLUMNS' THEN 'too many fields for the header'
  ELSE lower(error_type) END || ' (' || error_message || ')'"""


def record_bad_lines(conn: duckdb.DuckDBPyConnection, courier: Courier, feed: Feed, readable: Readable,
                     rows_read: int, header_rows: int) -> list[int]:
    """Move DuckDB's structural CSV errors for one file into the load's rejects, one row per malformed line;
    returns those line numbers. A quote that DuckDB could not close before the end of the file makes it stop
    reading there: that file is refused (CourierError) rather than loaded without its rest; so is a file with
    bytes that are invalid in its encoding (the whole file is in another one)."""
    exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'wp_reject_errors'").fetchone()[0]
    if not exists:
        return []
    lines = [int(r[0]) for r in conn.execute("SELECT DISTINCT line FROM wp_reject_errors ORDER BY line").fetchall()]
    encoding = conn.execute("SELECT min(line) FROM wp_reject_errors WHERE error_type = 'INVALID ENCODING'").fetchone()[0]
    if encoding is not None:  # not one bad row: the file is in another encoding than the courier says
        conn.execute("DELETE FROM wp_reject_errors")
        conn.execute("DELETE FROM wp_reject_scans")
        raise CourierError(f"{readable.label}: line {encoding} is not valid {courier.file.encoding}; the file is in "
                           "another encoding (set the courier's file.encoding, e.g. latin-1, or fix the export)")
    quote = conn.execute("SELECT min(line) FROM wp_reject_errors WHERE error_type = 'UNQUOTED VALUE'").fetchone()[0]
    if quote is not None:
        records_before = quote - 1 - header_rows - sum(1 for line in lines if line < quote)
        if rows_read <= records_before and has_lines_after(readable.url, readable.unpacking(courier.file), quote):
            conn.execute("DELETE FROM wp_reject_errors")
            conn.execute("DELETE FROM wp_reject_scans")
            raise CourierError(f"{readable.label}: line {quote} has a value with an unterminated quote; the rest of "
                               "the file cannot be read reliably, so none of it is loaded (fix the quote and reload)")
    ensure_pending_rejects(conn)
    conn.execute(
        f"INSERT INTO {PENDING_REJECTS} SELECT ?, ?, ?, line, coalesce(column_name, ''), left(csv_line, 500), "
        f"{LINE_REASON}, now() FROM ("
        "  SELECT DISTINCT ON (line) * FROM wp_reject_errors ORDER BY line, column_idx)",
        [courier.name, feed.name, readable.label],
    )
    conn.execute("DELETE FROM wp_reject_errors")
    conn.execute("DELETE FROM wp_reject_scans")
    return lines

