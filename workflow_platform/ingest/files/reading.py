"""Read landed files with DuckDB's own readers (no pandas on the data path), every option stated: a readable
unit (a landed file, or what unpack.py made of it: decrypted, an archive member), its header, the reader SQL, its columns, and the lines DuckDB could
not parse. The courier check (ingest/couriers/check.py) and the feed (ingest/feeds/typing.py) both read through
here.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import zlib
from dataclasses import dataclass

import duckdb

from workflow_platform.catalog.models import Courier, Feed, FileFormat
from workflow_platform.ingest.audit import PENDING_REJECTS, ensure_pending_rejects
from workflow_platform.ingest.files.textfiles import (
    DELIMITED,
    FileRefused,
    Header,
    binary_kind,
    compression_of,
    describe_columns,
    has_lines_after,
    open_binary,
    read_header,
)
from workflow_platform.sql import literal as sql_literal

GLOB_CHARACTERS = re.compile(r"[*?\[\]{}]")
QUOTED = re.compile(r"""("[^"]*"|'[^']*')""")


class UnreadableFile(Exception):
    """A file cannot be read as configured; the message names the file and what is wrong (never its values)."""


@dataclass(frozen=True)
class Readable:
    """One readable unit: a landed file, or (unpack.py) a decrypted file or an archive member in a scratch folder."""

    url: str
    label: str  # the name recorded in _file: the path relative to the location (plus !member for archives)
    day: dt.date | None
    compression: str | None = None  # forced compression (extracted members are plain)

    def unpacking(self, fmt: FileFormat) -> str | None:
        """'gzip' when this unit is read through gzip, else None."""
        return compression_of(self.label, fmt, self.compression)


def header_of(readable: Readable, fmt: FileFormat) -> Header:
    """A delimited unit's header (textfiles.py); a whole-file problem raises UnreadableFile."""
    try:
        return read_header(readable.url, readable.label, fmt, readable.unpacking(fmt))
    except FileRefused as exc:
        raise UnreadableFile(str(exc)) from exc
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnreadableFile(f"{readable.label}: not a readable gzip file ({type(exc).__name__})") from exc


def reader_sql(readable: Readable, fmt: FileFormat, header: Header | None = None,
               text_columns: list[str] | None = None) -> str:
    """DuckDB's reader for a file. Delimited files are read with everything stated (`header`: the columns and
    encoding read by textfiles.py; no sniffing); `text_columns` makes a JSON reader keep those keys as
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
        # read_json names the plain and guessed cases its own way (DuckDB 1.5 refuses 'none' and 'auto' there)
        compression = {"none": "uncompressed", "auto": "auto_detect"}.get(compression, compression)
        return f"read_json({path}, format = '{layout}', compression = {sql_literal(compression)}{columns})"
    return f"read_parquet({path})"


def describe(conn: duckdb.DuckDBPyConnection, readable: Readable, fmt: FileFormat) -> dict[str, str]:
    """The file's columns and the types DuckDB's reader gives them; an unreadable file raises UnreadableFile."""
    if fmt.format in DELIMITED:
        return dict.fromkeys(header_of(readable, fmt).names, "VARCHAR")
    if fmt.format in ("json", "ndjson"):  # DuckDB's JSON reader takes any bytes: refuse binary first
        with open_binary(readable.url, readable.unpacking(fmt)) as handle:
            kind = binary_kind(handle.read(4096))
        if kind:
            raise UnreadableFile(f"{readable.label}: not a {fmt.format} text file: it looks like {kind}")
    try:
        return dict(row[:2] for row in conn.execute(f"DESCRIBE SELECT * FROM {reader_sql(readable, fmt)}").fetchall())
    except duckdb.Error as exc:
        raise read_error(readable, fmt, exc) from exc


def column_map(conn: duckdb.DuckDBPyConnection, readable: Readable, feed: Feed, fmt: FileFormat,
               described: dict[str, str] | list[str] | None = None, by_name: bool = False) -> dict[str, str]:
    """feed column -> the reader's column (by position for a delimited file without header, unless `by_name`);
    a missing or repeated column or an unreadable file raises UnreadableFile. Reasons name the feed's columns;
    the file's own names only when they look like a header."""
    if described is None:
        described = header_of(readable, fmt).names if fmt.format in DELIMITED else describe(conn, readable, fmt)
    columns = list(described)
    if not fmt.header and fmt.format in DELIMITED and not by_name:
        if len(columns) < len(feed.columns):
            raise UnreadableFile(
                f"{readable.label}: has {len(columns)} columns, feed {feed.name!r} declares {len(feed.columns)}")
        return {c.name: columns[i] for i, c in enumerate(feed.columns)}
    positions: dict[str, list[int]] = {}
    for index, name in enumerate(columns, start=1):
        positions.setdefault(name.strip().lower(), []).append(index)
    declared = [c.source_name for c in feed.columns]
    repeated = [f"{name!r} (columns {', '.join(map(str, positions[name.lower()]))})" for name in declared
                if len(positions.get(name.lower(), [])) > 1]
    if repeated:
        raise UnreadableFile(f"{readable.label}: the header names {', '.join(repeated)} more than once; feed "
                           f"{feed.name!r} cannot tell which to load (rename one in the export, or read the file by "
                           "position with file.header: false)")
    missing = [name for name in declared if name.lower() not in positions]
    if missing:
        raise UnreadableFile(f"{readable.label}: missing column(s) {', '.join(missing)} required by feed "
                           f"{feed.name!r}; {describe_columns(columns, declared)}")
    by_name = {c.strip().lower(): c for c in columns[::-1]}  # the first of a name (undeclared repeats are drift)
    return {c.name: by_name[c.source_name.lower()] for c in feed.columns}


def read_error(readable: Readable, fmt: FileFormat, exc: Exception) -> UnreadableFile:
    """A reader's error as one clear line naming the file. DuckDB's messages can quote the line they stopped
    at, so only the first line is kept and anything quoted in it is left out."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "sniffing file" in first or "state machine" in first:
        detail = (f"it does not parse as {fmt.format} with delimiter {fmt.separator!r} and quote {fmt.quote!r} "
                  "(an unterminated quote, another delimiter, or not a text file?)")
    else:
        detail = QUOTED.sub("(…)", first.removeprefix("Invalid Input Error: ").removeprefix("IO Error: "))[:300]
    return UnreadableFile(f"{readable.label}: cannot be read as {fmt.format}: {detail}")


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
    reading there: that file is refused (UnreadableFile) rather than loaded without its rest; so is a file with
    bytes that are invalid in its encoding (the whole file is in another one)."""
    exists = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'wp_reject_errors'").fetchone()[0]
    if not exists:
        return []
    lines = [int(r[0]) for r in conn.execute("SELECT DISTINCT line FROM wp_reject_errors ORDER BY line").fetchall()]
    encoding = conn.execute("SELECT min(line) FROM wp_reject_errors WHERE error_type = 'INVALID ENCODING'").fetchone()[0]
    if encoding is not None:  # not one bad row: the file is in another encoding than the courier says
        conn.execute("DELETE FROM wp_reject_errors")
        conn.execute("DELETE FROM wp_reject_scans")
        raise UnreadableFile(f"{readable.label}: line {encoding} is not valid {courier.file.encoding}; the file is in "
                           "another encoding (set the courier's file.encoding, e.g. latin-1, or fix the export)")
    quote = conn.execute("SELECT min(line) FROM wp_reject_errors WHERE error_type = 'UNQUOTED VALUE'").fetchone()[0]
    if quote is not None:
        records_before = quote - 1 - header_rows - sum(1 for line in lines if line < quote)
        if rows_read <= records_before and has_lines_after(readable.url, readable.unpacking(courier.file), quote):
            conn.execute("DELETE FROM wp_reject_errors")
            conn.execute("DELETE FROM wp_reject_scans")
            raise UnreadableFile(f"{readable.label}: line {quote} has a value with an unterminated quote; the rest of "
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

