"""The hand-offs of the load step, the only tables its parts share: the files each courier registered for this
load (`raw.<courier>__files`, written by the courier check, read by the feed), and the feed's staging table
(written by the feed, merged by the domain).
"""

from __future__ import annotations

import duckdb

from workflow_platform.catalog.models import Courier, Feed
from workflow_platform.ingest.files.landed import LandedFile
from workflow_platform.sql import ident


def files_table(courier: Courier) -> str:
    """The files a courier's last run loads, in load order (the history of every file is audit.files)."""
    return f"raw.{ident(courier.name + '__files')}"


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


def staging_name(feed: Feed) -> str:
    return f"staging_{feed.name}"


def staging_table(feed: Feed) -> str:
    """The load step's staging table: a temporary table of its connection (in memory, spilling to disk when
    large), so the one write to the warehouse file is the domain table's."""
    return f"temp.main.{ident(staging_name(feed))}"


def staging_files_table(feed: Feed) -> str:
    """One row per file read into staging: its courier, sequence, first rowid and header lines."""
    return f"temp.main.{ident(staging_name(feed) + '__files')}"


def key_expression(feed: Feed, columns: dict[str, str]) -> str:
    """`_pk` from the stored values of the key columns (`columns`: name -> SQL): the one key's text, or a JSON
    array of the parts, so ("a|b", "c") and ("a", "b|c") stay apart. The domain table computes the same
    expression as a virtual column."""
    parts = [f"CAST({columns[name]} AS VARCHAR)" for name in feed.primary_key]
    return parts[0] if len(parts) == 1 else f"CAST(to_json([{', '.join(parts)}]) AS VARCHAR)"
