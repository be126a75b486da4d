"""Send rows of the warehouse to a destination: files through fsspec, or JSON batches to a webhook."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import fsspec

from workflow_platform.catalog.models import Destination
from workflow_platform.formats.filenames import FilenameTemplateError, render_filename
from workflow_platform.orchestrations.destinations import open_destination, write_parts
from workflow_platform.orchestrations.errors import PermanentSendError
from workflow_platform.orchestrations.export import ExportError, export_parts
from workflow_platform.orchestrations.webhook import post_batches, redact_url
from workflow_platform.settings import data_dir
from workflow_platform.sql import literal
from workflow_platform.storage import MissingSecret, secret

EXPORT_MEMORY_LIMIT = "512MB"  # DuckDB's buffers while writing files; bench/export.py measures the peak RSS


@dataclass
class SendSummary:
    rows: int = 0
    files: int = 0
    bytes: int = 0
    urls: list[str] = field(default_factory=list)
    attempts: int = 0


@dataclass(frozen=True)
class SendNames:
    """What a file name template may refer to."""

    name: str
    campaign: str | None = None  # campaign sends only
    sub_audience: str | None = None


def send_rows(conn: duckdb.DuckDBPyConnection, query: str, destination: Destination, template: str,
              names: SendNames, now: dt.datetime, idempotency_prefix: str = "") -> SendSummary:
    """Send the rows of `query` (a SELECT over warehouse tables) to the destination."""
    if destination.type == "webhook":
        return _send_webhook(conn, query, destination, idempotency_prefix)
    fs, folder = open_destination(destination)  # credentials and reachability first, before any export work
    scratch = data_dir() / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    _remove_stale_scratch(scratch)
    limit = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    conn.execute(f"SET memory_limit = {literal(EXPORT_MEMORY_LIMIT)}")  # the process must stay well under 1 GB
    try:
        return _send_files(conn, query, destination, template, names, now, fs, folder, scratch)
    finally:
        conn.execute(f"SET memory_limit = {literal(limit)}")


def _send_files(conn: duckdb.DuckDBPyConnection, query: str, destination: Destination, template: str,
                names: SendNames, now: dt.datetime, fs: fsspec.AbstractFileSystem, folder: str,
                scratch: Path) -> SendSummary:
    with tempfile.TemporaryDirectory(prefix="send-", dir=scratch) as workdir:
        try:
            parts = export_parts(
                conn, query, destination,
                lambda number: render_filename(template, now, name=names.name, campaign=names.campaign,
                                               sub_audience=names.sub_audience, file_number=number),
                Path(workdir),
            )
        except (ExportError, FilenameTemplateError) as exc:
            raise PermanentSendError(f"{names.name}: the rows cannot be exported: {exc}") from exc
        sent = write_parts(parts, destination, fs, folder)
    return SendSummary(rows=sum(f.rows for f in sent), files=len(sent), bytes=sum(f.bytes for f in sent),
                       urls=[f.url for f in sent], attempts=1)


def _remove_stale_scratch(scratch: Path, older_than_seconds: float = 6 * 3600) -> None:
    """Exports left by a send that was killed (a normal end removes its own folder)."""
    cutoff = time.time() - older_than_seconds
    for folder in scratch.glob("send-*"):
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _send_webhook(conn: duckdb.DuckDBPyConnection, query: str, destination: Destination,
                  idempotency_prefix: str) -> SendSummary:
    what = f"destination {destination.name!r}"
    try:
        headers = {header: secret(env, f"{what} (header {header})") for header, env in destination.headers_env.items()}
        url = secret(destination.url_env, f"{what} (url)") if destination.url_env else destination.url
    except MissingSecret as exc:
        raise PermanentSendError(str(exc)) from exc
    shown = redact_url(url)
    if destination.url_env:  # the path is the secret: scheme and host only
        shown = "/".join(shown.split("/")[:3])
    result = post_batches(_batches(conn, query, destination.batch_size), url, headers,
                          max_attempts=destination.max_attempts, idempotency_prefix=idempotency_prefix,
                          display_url=shown)
    return SendSummary(rows=result.rows, files=0, bytes=result.bytes, urls=[shown], attempts=result.attempts)


def _batches(conn: duckdb.DuckDBPyConnection, query: str, size: int) -> Iterator[list[dict]]:
    """Rows in batches of `size`, fetched from DuckDB as they are sent (never the whole audience in memory)."""
    try:
        cursor = conn.execute(query)
    except duckdb.Error as exc:
        raise PermanentSendError(f"the rows cannot be read: {str(exc).splitlines()[0]}") from exc
    columns = [d[0] for d in cursor.description]
    while rows := cursor.fetchmany(size):
        yield [dict(zip(columns, row, strict=True)) for row in rows]

