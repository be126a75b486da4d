"""Write a warehouse query to local files in a destination's format, streamed by DuckDB's COPY.

No pandas copy of the audience: DuckDB writes the file itself (CSV/TSV/PSV/delimited, Parquet, NDJSON; gzip
inside COPY; a zip, tar or tar.gz around the finished file; OpenPGP around that). Splits by row count number the
parts 1, 2, 3, ...
"""

from __future__ import annotations

import re
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from workflow_platform.catalog.models import Destination
from workflow_platform.formats.filenames import is_plain_file_name
from workflow_platform.formats.pgp import ENCRYPTED_SUFFIXES, PgpError, encrypt_file
from workflow_platform.sql import ident, literal

SEPARATORS = {"csv": ",", "tsv": "\t", "psv": "|"}
ARCHIVE_SUFFIXES = {"zip": (".zip",), "tar": (".tar",), "tgz": (".tar.gz", ".tgz")}


@dataclass(frozen=True)
class ExportPart:
    local: Path  # the finished local file, ready to upload
    name: str  # the file name it must have at the destination
    rows: int


class ExportError(Exception):
    """The query or data template does not fit the rows (e.g. a template column the segment lacks)."""


QUOTED_VALUE = re.compile(r"'(?:[^']|'')*'")


def error_line(exc: Exception) -> str:
    """DuckDB's first error line with quoted values hidden: a conversion error quotes the row's value (PII)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return QUOTED_VALUE.sub("'***'", first)


def template_select(columns: dict[str, str] | None, relation: str) -> str:
    """`SELECT <template columns> FROM relation`: columns chosen, renamed and ordered, or all of them."""
    if not columns:
        return f"SELECT * FROM {relation}"
    return "SELECT " + ", ".join(f"{ident(src)} AS {ident(dst)}" for src, dst in columns.items()) + f" FROM {relation}"


def export_parts(conn: duckdb.DuckDBPyConnection, query: str, destination: Destination,
                 name_of_part: Callable[[int], str], workdir: Path) -> list[ExportPart]:
    """Write the rows of `query` as the destination's files under `workdir`: one file, or one per split part."""
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        columns = [d[0] for d in conn.execute(f"SELECT * FROM ({query}) LIMIT 0").description]
    except duckdb.Error as exc:
        raise ExportError(error_line(exc)) from exc
    if destination.row_number and destination.row_number in columns:
        raise ExportError(f"row_number column {destination.row_number!r} is already a column of the rows")
    if not destination.split_rows and not destination.row_number:
        return [_write(conn, query, destination, name_of_part(1), workdir)]

    # each part streams its own slice of the query (no materialized copy of the audience): with DuckDB's
    # insertion order preserved, LIMIT/OFFSET over one table scan slices it in a stable order
    total = conn.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
    size = destination.split_rows or max(total, 1)
    parts = max(1, -(-total // size))
    listed = ", ".join(ident(c) for c in columns)
    written = []
    for number in range(1, parts + 1):
        offset = (number - 1) * size
        part_query = f"SELECT * FROM ({query}) LIMIT {size} OFFSET {offset}"
        if destination.row_number:
            part_query = (f"SELECT {offset} + row_number() OVER () AS {ident(destination.row_number)}, {listed} "
                          f"FROM ({part_query})")
        written.append(_write(conn, part_query, destination, name_of_part(number), workdir))
    return written


def _write(conn: duckdb.DuckDBPyConnection, query: str, destination: Destination, name: str,
           workdir: Path) -> ExportPart:
    """One finished file named `name`: DuckDB's COPY, then the archive around it, then OpenPGP around that
    (`x.csv.tar.gz.pgp` holds `x.csv.tar.gz`, which holds `x.csv`)."""
    if not is_plain_file_name(name):
        raise ExportError(f"file name {name!r} is not a plain name (no '/', '\\' or leading '.')")
    encrypted = destination.pgp_public_key is not None
    archived = destination.compression in ARCHIVE_SUFFIXES
    plain_name = _without_suffix(name, ENCRYPTED_SUFFIXES) if encrypted else name
    member = _without_suffix(plain_name, ARCHIVE_SUFFIXES[destination.compression]) if archived else plain_name
    current = workdir / (f"{member}.inner" if archived or encrypted else name)
    try:
        rows = conn.execute(f"COPY ({query}) TO {literal(str(current))} ({copy_options(destination)})").fetchone()[0]
    except duckdb.Error as exc:
        raise ExportError(error_line(exc)) from exc
    if archived:
        archive = workdir / f"{plain_name}.archive"
        _archive(current, archive, member, destination.compression)
        current.unlink()
        current = archive
    if encrypted:
        sealed = workdir / f"{name}.sealed"
        try:
            encrypt_file(current, sealed, destination.pgp_public_key)
        except PgpError as exc:
            raise ExportError(str(exc)) from exc
        finally:
            current.unlink()
        current = sealed
    final = workdir / name
    if current != final:
        current.rename(final)
    return ExportPart(final, name, rows)


def _without_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    """`name` without the first of `suffixes` it ends with (case-insensitive), unless nothing would be left."""
    for suffix in suffixes:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _archive(source: Path, archive: Path, member: str, compression: str) -> None:
    """Write `source` as the one member `member` of a zip, tar or tar.gz archive."""
    if compression == "zip":
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            zf.write(source, arcname=member)
        return
    with tarfile.open(archive, "w:gz" if compression == "tgz" else "w", format=tarfile.PAX_FORMAT) as tar:
        info = tar.gettarinfo(str(source), arcname=member)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o644
        with open(source, "rb") as handle:
            tar.addfile(info, handle)


def copy_options(destination: Destination) -> str:
    """DuckDB COPY options for the destination's file settings."""
    if destination.format == "parquet":
        return "FORMAT parquet"
    if destination.format == "ndjson":
        gzip = ", COMPRESSION gzip" if destination.compression == "gzip" else ", COMPRESSION none"
        return "FORMAT json" + gzip
    separator = destination.delimiter if destination.format == "delimited" else SEPARATORS[destination.format]
    options = [
        "FORMAT csv",
        f"HEADER {str(destination.header).lower()}",
        f"DELIMITER {literal(separator)}",
        f"QUOTE {literal(destination.quote)}",
        f"ESCAPE {literal(destination.escape or destination.quote)}",
        f"NEW_LINE {literal(chr(13) + chr(10) if destination.line_ending == 'CRLF' else chr(10))}",
        f"COMPRESSION {'gzip' if destination.compression == 'gzip' else 'none'}",
    ]
    if destination.quote_mode == "all":
        options.append("FORCE_QUOTE *")
    return ", ".join(options)
