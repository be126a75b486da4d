"""Send a segment's rows to a destination. This version writes local files atomically."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from workflow_platform.catalog.models import Destination, Orchestration
from workflow_platform.settings import resolve_local
from workflow_platform.sql import ident, literal


@dataclass
class SendResult:
    path: str
    rows: int
    bytes: int


def render_filename(orchestration: Orchestration, today: dt.date) -> str:
    name = orchestration.filename.replace("{name}", orchestration.name).replace("{date}", today.isoformat())
    if "/" in name or name.startswith("."):
        raise ValueError(f"orchestration {orchestration.name!r}: file name {name!r} must not contain '/' or start with '.'")
    return name


def send_to_destination(conn: duckdb.DuckDBPyConnection, orchestration: Orchestration, destination: Destination,
                        today: dt.date) -> SendResult:
    if destination.type != "local":
        raise NotImplementedError(f"destination type {destination.type!r} is not available yet; use 'local'")
    folder = Path(resolve_local(destination.url))
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / render_filename(orchestration, today)
    temporary = folder / f".{final.name}.partial"
    if orchestration.columns:
        columns = ", ".join(f"{ident(src)} AS {ident(dst)}" for src, dst in orchestration.columns.items())
    else:
        columns = "*"
    query = f"SELECT {columns} FROM segment.{ident(orchestration.segment)}"
    options = _copy_options(destination)
    try:
        conn.execute(f"COPY ({query}) TO {literal(str(temporary))} ({options})")
        os.replace(temporary, final)  # readers never see a half-written file
    finally:
        temporary.unlink(missing_ok=True)
    rows = conn.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
    return SendResult(str(final), rows, final.stat().st_size)


def _copy_options(destination: Destination) -> str:
    if destination.format == "parquet":
        return "FORMAT parquet"
    if destination.format == "ndjson":
        return "FORMAT json"
    delimiter = destination.delimiter or {"tsv": "\t", "psv": "|"}.get(destination.format, ",")
    compression = "gzip" if destination.compression == "gzip" else "none"
    return f"FORMAT csv, HEADER {str(destination.header).lower()}, DELIMITER {literal(delimiter)}, COMPRESSION {compression}"
