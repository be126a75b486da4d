"""Merge a staged feed into its domain table `domain.<feed>`: upsert or truncate-then-upsert.

Duplicate primary keys are decided by, in order: the newer last-updated value; the later file date;
new data over existing data; the later file of the load; the later line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from workflow_platform.catalog.models import Feed
from workflow_platform.ingest.audit import mark_dropped
from workflow_platform.ingest.staging import key_expression, staging_table
from workflow_platform.sql import ident, is_lake, table_exists, transaction

SQL_TYPES = {"string": "VARCHAR", "integer": "BIGINT", "float": "DOUBLE", "boolean": "BOOLEAN", "date": "DATE",
             "datetime": "TIMESTAMP"}


def drop_domain_table(conn: duckdb.DuckDBPyConnection, feed: Feed, couriers: list[str]) -> int:
    """Drop a feed's domain table (its next load recreates it); returns the rows it held. The files its
    `couriers` loaded are marked `dropped` in audit.files, so they load again."""

    if not table_exists(conn, feed.table):
        return 0
    with transaction(conn):
        rows = conn.execute(f"SELECT count(*) FROM {feed.table_sql}").fetchone()[0]
        conn.execute(f"DROP TABLE {feed.table_sql}")
        mark_dropped(conn, couriers)
    return rows


# _pk is a virtual column computed from the key columns (staging.key_expression); on a DuckLake, which has no
# generated columns, a stored column the load writes from the same expression
SYSTEM_COLUMNS = {"_pk": "VARCHAR", "_updated": "TIMESTAMP", "_file": "VARCHAR", "_file_date": "DATE",
                  "_line": "BIGINT"}


class DomainSchemaChanged(Exception):
    """The domain table's columns no longer match the feed."""


@dataclass
class DomainResult:
    operation: str
    staged: int
    inserted: int
    updated: int
    unchanged: int  # staged rows that lost to a newer existing row or a duplicate in the load
    rows_after: int


def sql_type(type_name: str) -> str:
    return SQL_TYPES.get(type_name) or type_name.upper().replace(" ", "")


def ensure_domain_table(conn: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS domain")
    wanted = {c.name: sql_type(c.type) for c in feed.columns} | SYSTEM_COLUMNS
    if table_exists(conn, feed.table):
        have = dict(conn.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'domain' AND table_name = ?",
            [feed.name],
        ).fetchall())
        # a computed _pk has its expression as the column's default (information_schema's is_generated is NULL on
        # DuckDB 1.5); on a DuckLake _pk is always stored, and written by the load
        stored_key = conn.execute(
            "SELECT column_default IS NULL FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'domain' AND table_name = ? AND column_name = '_pk'", [feed.name]).fetchone()
        if stored_key and stored_key[0] and not is_lake(conn):  # made by a version that stored _pk: left NULL
            have["_pk"] = "VARCHAR (stored, now computed)"
        if have != wanted:
            added, removed = sorted(set(wanted) - set(have)), sorted(set(have) - set(wanted))
            retyped = sorted(f"{c} {have[c]} -> {wanted[c]}" for c in set(have) & set(wanted) if have[c] != wanted[c])
            raise DomainSchemaChanged(
                f"domain table {feed.table} no longer matches feed {feed.name!r} "
                f"(new columns: {added or 'none'}, removed: {removed or 'none'}, changed types: {retyped or 'none'}); "
                f"drop it with `workflow-platform truncate {feed.name}` and reload its files under the new schema"
            )
        return
    key = key_expression(feed, {c.name: ident(c.name) for c in feed.columns})
    computed = not is_lake(conn)
    columns = ", ".join(
        f"{ident(name)} {kind}" + (f" GENERATED ALWAYS AS ({key}) VIRTUAL" if name == "_pk" and computed else "")
        for name, kind in wanted.items()
    )
    conn.execute(f"CREATE TABLE {feed.table_sql} ({columns})")


def merge_staged(conn: duckdb.DuckDBPyConnection, feed: Feed, operation: str, load_time: dt.datetime) -> DomainResult:
    """Merge the accepted rows of the staging table (ingest/feeds/typing.py) into the domain table.

    Call it inside the load's transaction (ingest/step.py), which also records the load's rejects and files:
    a failure or a crash leaves the previous table."""
    table = feed.table_sql
    columns = [c.name for c in feed.columns]
    col_list = ", ".join(ident(c) for c in columns)
    updated_order = f"{ident(feed.last_updated)} DESC NULLS LAST, " if feed.last_updated else ""
    order = f"{updated_order}_file_date DESC NULLS LAST, _new DESC, _seq DESC, _line DESC"
    staged_rows = (f"SELECT {col_list}, _pk, _file, _file_date, _seq, _line FROM {staging_table(feed)} "
                   "WHERE _reject IS NULL")
    stored_pk = ", _pk" if is_lake(conn) else ""  # else the table computes _pk
    target = f"{table} ({col_list}, _updated, _file, _file_date, _line{stored_pk})"
    stamped = f"{col_list}, ?::TIMESTAMP + to_microseconds(_seq), _file, _file_date, _line{stored_pk}"
    staged, keys = conn.execute(
        f"SELECT count(*), count(DISTINCT _pk) FROM {staging_table(feed)} WHERE _reject IS NULL").fetchone()
    ensure_domain_table(conn, feed)  # inside the transaction: a failed first load leaves no empty table behind
    if operation == "truncate_upsert":
        conn.execute(f"DELETE FROM {table}")
    empty = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
    if empty and staged == keys:  # first load or truncate: nothing to compare with, every row goes in as it is
        conn.execute(f"INSERT INTO {target} SELECT {stamped} FROM ({staged_rows})", [load_time])
        inserted = updated = None
    else:
        inserted, updated = _upsert(conn, table, staged_rows, col_list, order, target, stamped, load_time)
    rows_after = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if inserted is None:
        inserted, updated = staged, 0
    return DomainResult(operation, staged, inserted, updated, staged - inserted - updated, rows_after)


def _upsert(conn, table, staged_rows, col_list, order, target, stamped, load_time) -> tuple[int, int]:
    """Keep, per primary key, the winner among the staged rows and the existing row; returns (inserted, updated)."""
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_winners AS
        SELECT * EXCLUDE (_rank) FROM (
          SELECT *, 1 AS _new, row_number() OVER (PARTITION BY _pk ORDER BY {order}) AS _rank FROM ({staged_rows})
        ) WHERE _rank = 1
        """
    )
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_keep AS
        SELECT _pk, _existed FROM (
          SELECT _pk, _new, max(1 - _new) OVER (PARTITION BY _pk) AS _existed,
                 row_number() OVER (PARTITION BY _pk ORDER BY {order}) AS _rank
          FROM (
            SELECT {col_list}, _pk, _file_date, _line, _seq, _new FROM wp_winners
            UNION ALL
            SELECT {col_list}, d._pk, d._file_date, d._line, 0 AS _seq, 0 AS _new
            FROM {table} d SEMI JOIN wp_winners w ON d._pk = w._pk
          )
        ) WHERE _rank = 1 AND _new = 1
        """
    )
    inserted, updated = conn.execute(
        "SELECT count(*) FILTER (WHERE _existed = 0), count(*) FILTER (WHERE _existed = 1) FROM wp_keep").fetchone()
    conn.execute(f"DELETE FROM {table} WHERE _pk IN (SELECT _pk FROM wp_keep WHERE _existed = 1)")
    conn.execute(f"INSERT INTO {target} SELECT {stamped} FROM wp_winners w SEMI JOIN wp_keep k ON w._pk = k._pk",
                 [load_time])
    conn.execute("DROP TABLE wp_winners")
    conn.execute("DROP TABLE wp_keep")
    return inserted, updated
