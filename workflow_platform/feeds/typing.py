"""Type and standardize a feed's files into the load step's staging table, sending refused rows to audit.rejects.

One SQL pass per file, straight from DuckDB's reader: a value that is present but does not cast to its
declared type rejects the row, and a file whose rejected share exceeds the feed's error threshold fails the
load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from workflow_platform.catalog.models import Courier, Feed, FeedColumn, StitchSettings
from workflow_platform.couriers.ingest import (
    DELIMITED,
    column_map,
    describe,
    manifest,
    read_error,
    readables,
    reader_sql,
    record_bad_lines,
)
from workflow_platform.feeds.rejects import REJECTS_TABLE, ensure_rejects_table
from workflow_platform.feeds.semantics import standardize
from workflow_platform.joda import joda_to_strftime
from workflow_platform.sql import ident, literal

TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")


class FeedThresholdExceeded(Exception):
    """A file's rejected share is over the feed's error threshold; nothing of the load was staged."""


@dataclass
class FeedResult:
    rows_in: int
    rows_staged: int
    rows_rejected: int
    per_file: list[dict] = field(default_factory=list)


def typed_expr(column: FeedColumn, raw: str) -> str:
    """SQL turning the text value `raw` into the column's type (NULL when it does not fit)."""
    value = f"nullif(trim({raw}), '')"
    kind = column.type
    if kind == "string":
        return f"nullif({raw}, '')"
    if kind == "integer":
        return f"TRY_CAST({value} AS BIGINT)"
    if kind == "float":
        return f"TRY_CAST({value} AS DOUBLE)"
    if kind.startswith("decimal"):
        p, s = re.findall(r"\d+", kind)
        return f"TRY_CAST({value} AS DECIMAL({p},{s}))"
    if kind == "boolean":
        trues = ", ".join(literal(w) for w in TRUE_WORDS)
        falses = ", ".join(literal(w) for w in FALSE_WORDS)
        return f"CASE WHEN lower({value}) IN ({trues}) THEN true WHEN lower({value}) IN ({falses}) THEN false END"
    target = "DATE" if kind == "date" else "TIMESTAMP"
    if column.format:
        return f"CAST(try_strptime({value}, {literal(joda_to_strftime(column.format))}) AS {target})"
    return f"TRY_CAST({value} AS {target})"


def staging_name(feed: Feed) -> str:
    return f"staging_{feed.name}"


def staging_table(feed: Feed) -> str:
    """The load step's staging table: a temporary table of its connection (in memory, spilling to disk when
    large), so the one write to the warehouse file is the domain table's."""
    return f"temp.main.{ident(staging_name(feed))}"


def staging_files_table(feed: Feed) -> str:
    """One row per file read into staging: its courier, sequence, first rowid and header lines."""
    return f"temp.main.{ident(staging_name(feed) + '__files')}"


def _create(table: str) -> str:
    """CREATE OR REPLACE for a temp.main.<name> table."""
    return f"CREATE OR REPLACE TEMP TABLE {table.removeprefix('temp.main.')}"


def key_expression(feed: Feed, columns: dict[str, str]) -> str:
    """`_pk` from the stored values of the key columns (`columns`: name -> SQL): the one key's text, or a JSON
    array of the parts, so ("a|b", "c") and ("a", "b|c") stay apart. The domain table computes the same
    expression as a virtual column."""
    parts = [f"CAST({columns[name]} AS VARCHAR)" for name in feed.primary_key]
    return parts[0] if len(parts) == 1 else f"CAST(to_json([{', '.join(parts)}]) AS VARCHAR)"


def _select_list(feed: Feed, mapping: dict[str, str], settings: StitchSettings,
                 temporal_sources: frozenset[str] = frozenset()) -> str:
    """Typed and standardized columns, the primary key, and `_reject` (NULL, or column/value/reason).

    Source columns in `temporal_sources` are already dates or timestamps (Parquet): formats, which describe
    text, are skipped for them."""
    selects, failures, stored = [], [], {}
    for column in feed.columns:
        if column.format and mapping[column.name] in temporal_sources:
            column = column.model_copy(update={"format": None})
        raw = f"CAST({ident(mapping[column.name])} AS VARCHAR)"  # typed readers (parquet, json) too
        typed = typed_expr(column, raw)
        stored[column.name] = standardize(typed, column.tag, settings)
        selects.append(f"{stored[column.name]} AS {ident(column.name)}")
        if column.type != "string":  # text always fits a string column
            reason = f"not a valid {column.type}" + (f" in format {column.format}" if column.format else "")
            failures.append((column.name, raw, f"nullif(trim({raw}), '') IS NOT NULL AND ({typed}) IS NULL", reason))
    for name in feed.primary_key:  # a key part that is empty as stored (after standardization too)
        raw = f"CAST({ident(mapping[name])} AS VARCHAR)"
        failures.append((name, raw, f"nullif(trim(CAST({stored[name]} AS VARCHAR)), '') IS NULL",
                         "primary key is empty"))
    pk = key_expression(feed, stored)
    cases = " ".join(
        f"WHEN {condition} THEN {{'column_name': {literal(name)}, 'value': left({raw}, 500), "
        f"'reason': {literal(reason)}}}"
        for name, raw, condition, reason in failures
    )
    return f"{', '.join(selects)}, {pk} AS _pk, CASE {cases} END AS _reject"


def _shift_lines_past_skipped(conn: duckdb.DuckDBPyConnection, feed: Feed, skipped: list[tuple[int, int]]) -> None:
    """Rows after a malformed (left out) line sit one line further down per line skipped before them.

    With skipped lines r_1 < r_2 < ... of a file, good row i (1-based, after the header) is preceded by the k-th
    skipped line when i > r_k - header - k; an ASOF join finds the largest such k for every row."""
    conn.execute("CREATE OR REPLACE TEMP TABLE wp_skipped (_seq INTEGER, line BIGINT)")
    conn.executemany("INSERT INTO wp_skipped VALUES (?, ?)", [list(x) for x in skipped])
    conn.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE wp_shift AS
        SELECT _seq, g, max(k) AS k FROM (
          SELECT b._seq, b.line - f.header_rows - row_number() OVER w AS g, row_number() OVER w AS k
          FROM wp_skipped b JOIN {staging_files_table(feed)} f USING (_seq)
          WINDOW w AS (PARTITION BY b._seq ORDER BY b.line)
        ) GROUP BY _seq, g
        """
    )
    conn.execute(
        f"""
        UPDATE {staging_table(feed)} AS t SET _line = t._line + x.k FROM (
          SELECT s.rowid AS row_id, h.k
          FROM {staging_table(feed)} s JOIN {staging_files_table(feed)} f USING (_seq)
          ASOF JOIN wp_shift h ON s._seq = h._seq AND s._line - f.header_rows > h.g
        ) x WHERE t.rowid = x.row_id
        """
    )
    conn.execute("DROP TABLE wp_skipped")
    conn.execute("DROP TABLE wp_shift")


def stage_feed(conn: duckdb.DuckDBPyConnection, feed: Feed, couriers: list[Courier], settings: StitchSettings,
               threshold_override: float | None = None) -> FeedResult:
    """Read the couriers' registered files once, typed and standardized, into the staging table.

    Rows that fail typing stay in staging with `_reject` set (so line numbers stay exact) and are copied to
    audit.rejects. Raises FeedThresholdExceeded (after recording the rejects) when a file is over the error
    threshold. Run it outside an explicit transaction: line numbers come from the committed rowids."""
    ensure_rejects_table(conn)
    created = files_created = False
    seq = 0
    skipped: list[tuple[int, int]] = []  # (file seq, line) of malformed lines the reader left out
    for courier in couriers:
        fmt = courier.file
        for landed in manifest(conn, courier):
            with readables(landed, fmt) as members:
                for readable in members:
                    seq += 1
                    mapping = column_map(conn, readable, feed, fmt)
                    temporal = frozenset()
                    if fmt.format == "parquet":
                        temporal = frozenset(n for n, t in describe(conn, readable, fmt).items()
                                             if t.startswith(("DATE", "TIMESTAMP")))
                    columns = _select_list(feed, mapping, settings, temporal)
                    select = f"SELECT {columns}, {literal(readable.label)} AS _file, " \
                             f"CAST({literal(readable.day) if readable.day else 'NULL'} AS DATE) AS _file_date, " \
                             f"{seq} AS _seq FROM {reader_sql(readable, fmt, list(mapping.values()))}"
                    try:
                        if not created:
                            conn.execute(f"{_create(staging_table(feed))} AS {select} LIMIT 0")
                            created = True
                        first_rowid = conn.execute(f"SELECT count(*) FROM {staging_table(feed)}").fetchone()[0]
                        rows = conn.execute(f"INSERT INTO {staging_table(feed)} {select}").fetchone()[0]
                    except duckdb.Error as exc:
                        raise read_error(readable, fmt, exc) from exc
                    header = 1 if (fmt.header and fmt.format in DELIMITED) else 0
                    bad = record_bad_lines(conn, courier, feed, readable, rows, header) if fmt.format in DELIMITED else []
                    bad_lines = len(bad)
                    skipped.extend((seq, line) for line in bad)
                    if not files_created:
                        conn.execute(f"{_create(staging_files_table(feed))} (_seq INTEGER, courier VARCHAR, "
                                     "_file VARCHAR, first_rowid BIGINT, rows BIGINT, header_rows INTEGER, bad_lines BIGINT)")
                        files_created = True
                    conn.execute(f"INSERT INTO {staging_files_table(feed)} VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 [seq, courier.name, readable.label, first_rowid, rows, header, bad_lines])
    if not created:  # no file at all: an empty staging table with the feed's columns
        mapping = {c.name: c.name for c in feed.columns}
        empty = ", ".join(f"CAST(NULL AS VARCHAR) AS {ident(c.name)}" for c in feed.columns)
        conn.execute(f"{_create(staging_table(feed))} AS SELECT {_select_list(feed, mapping, settings)}, "
                     f"NULL::VARCHAR AS _file, NULL::DATE AS _file_date, 0 AS _seq FROM (SELECT {empty}) LIMIT 0")
    if not files_created:
        conn.execute(f"{_create(staging_files_table(feed))} (_seq INTEGER, courier VARCHAR, _file VARCHAR, "
                     "first_rowid BIGINT, rows BIGINT, header_rows INTEGER, bad_lines BIGINT)")

    # line numbers from the committed rowids, which follow file order (each file was appended in order)
    conn.execute(f"ALTER TABLE {staging_table(feed)} ADD COLUMN _line BIGINT")
    conn.execute(f"UPDATE {staging_table(feed)} s SET _line = s.rowid - f.first_rowid + f.header_rows + 1 "
                 f"FROM {staging_files_table(feed)} f WHERE s._seq = f._seq")
    if skipped:
        _shift_lines_past_skipped(conn, feed, skipped)
    conn.execute(
        f"INSERT INTO {REJECTS_TABLE} SELECT f.courier, {literal(feed.name)}, s._file, s._line, "
        f"s._reject.column_name, s._reject.value, s._reject.reason, now() "
        f"FROM {staging_table(feed)} s JOIN {staging_files_table(feed)} f USING (_seq) WHERE s._reject IS NOT NULL"
    )
    per_file = conn.execute(
        f"SELECT f._file, f.rows, coalesce(r.rejected, 0), f.bad_lines FROM {staging_files_table(feed)} f "
        f"LEFT JOIN (SELECT _seq, count(*) AS rejected FROM {staging_table(feed)} WHERE _reject IS NOT NULL "
        f"GROUP BY _seq) r USING (_seq) ORDER BY f._seq"
    ).fetchall()
    threshold = feed.error_threshold if threshold_override is None else threshold_override
    report, over = [], []
    for file, rows, rejected, bad_lines in per_file:
        total, refused = rows + bad_lines, rejected + bad_lines
        share = 100.0 * refused / total if total else 0.0
        report.append({"file": file, "rows": total, "rejected": refused, "rejected_pct": round(share, 3)})
        if share > threshold:
            over.append(f"{file}: {refused} of {total} rows rejected ({share:.2f}% > {threshold:g}%)")
    if over:
        first = conn.execute(  # where to look first: lines and reasons (values stay in audit.rejects)
            f"SELECT s._file, s._line, s._reject.column_name, s._reject.reason FROM {staging_table(feed)} s "
            "WHERE s._reject IS NOT NULL ORDER BY s._seq, s._line LIMIT 3").fetchall()
        examples = "".join(f"\n    {file}:{line}: {column}: {reason}" for file, line, column, reason in first)
        raise FeedThresholdExceeded(
            f"feed {feed.name!r}: error threshold exceeded, nothing loaded (see {REJECTS_TABLE}):\n  "
            + "\n  ".join(over) + (f"\n  first refused rows:{examples}" if examples else "")
        )
    rows_in = sum(r["rows"] for r in report)
    rejected = sum(r["rejected"] for r in report)
    return FeedResult(rows_in=rows_in, rows_staged=rows_in - rejected, rows_rejected=rejected, per_file=report)
