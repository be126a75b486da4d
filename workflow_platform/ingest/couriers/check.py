"""Check a landed file before anything of it loads: readable in the courier's format, with the feed's columns,
not a decompression bomb, types unchanged since the courier's last load. Whole-file problems only: the rows are
read once, by the feed (ingest/feeds/typing.py).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

import duckdb

from workflow_platform.catalog.models import Feed, FileFormat
from workflow_platform.ingest.files.landed import LandedFile
from workflow_platform.ingest.files.reading import UnreadableFile, column_map, describe
from workflow_platform.ingest.files.textfiles import FileRefused, looks_like_data, unpacked_size_check
from workflow_platform.ingest.files.unpack import readables

GLOB_CHARACTERS = re.compile(r"[*?\[\]{}]")


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
               previous: tuple[str, dict[str, str]] | None = None, shaped: bool = False) -> FileCheck:
    """Check that a landed file can be loaded by the feed, without reading its rows.

    Raises UnreadableFile for a whole-file problem: a glob character in its name, 0 bytes, not readable in the
    courier's format, a missing column, an undeclared column when the feed is strict, or (typed formats) a
    feed column whose type changed family since `previous` (the courier's last loaded file and its columns).
    A file `shaped` by its courier's ingest SQL is checked readable only: the feed's columns are the SQL's
    result, checked when the feed reads it."""
    if GLOB_CHARACTERS.search(landed.relative):  # DuckDB's readers would expand it as a glob
        raise UnreadableFile(f"{landed.relative}: file names with any of * ? [ ] {{ }} cannot be read safely; "
                           "rename the file")
    if landed.size == 0:
        raise UnreadableFile(f"{landed.relative}: file is empty (0 bytes)")
    columns: dict[str, str] = {}
    new_columns: list[str] = []
    with readables(landed, fmt) as members:
        for readable in members:
            if readable.unpacking(fmt) == "gzip":
                try:  # a decompression bomb is refused before any reader spends time or disk on it
                    unpacked_size_check(readable.url, readable.label, fmt.limits)
                except (FileRefused, zlib.error, EOFError) as exc:
                    raise UnreadableFile(str(exc) if isinstance(exc, FileRefused) else
                                       f"{readable.label}: not a readable gzip file ({type(exc).__name__})") from exc
            found = describe(conn, readable, fmt)
            if shaped:
                columns.update(found)
                continue
            mapping = column_map(conn, readable, feed, fmt, found)
            used = {c.lower() for c in mapping.values()}
            extra = [c for c in found if c.lower() not in used]
            if extra and strict:
                names = (f"{len(extra)} column(s)" if looks_like_data(extra)
                         else f"column(s) {', '.join(extra)}")
                raise UnreadableFile(f"{readable.label}: {names} are not declared by feed {feed.name!r}, which is "
                                   "strict; declare them or set strict: false")
            new_columns += [c for c in extra if c not in new_columns]
            columns.update(found)
    if previous and fmt.format == "parquet":
        before_file, before = previous
        changed = [f"{c} was {before[c]} in {before_file}, now {t}" for c, t in columns.items()
                   if c in before and type_family(before[c]) != type_family(t)]
        if changed:
            raise UnreadableFile(f"{landed.relative}: column type changed: {'; '.join(changed)}; fix the export or "
                               "change the feed's column types")
    return FileCheck(columns, new_columns)
