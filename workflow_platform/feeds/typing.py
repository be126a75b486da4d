"""Type and standardize landed rows into `staging.<feed>`, sending rows that fail typing to audit.rejects.

All of it is SQL over `raw.<courier>`: a value that is present but does not cast to its declared type
rejects the row, and a file whose rejected share exceeds the feed's error threshold fails the load.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import duckdb

from workflow_platform.catalog.models import Courier, Feed, FeedColumn, StitchSettings
from workflow_platform.couriers.ingest import files_table, raw_table
from workflow_platform.feeds.rejects import REJECTS_TABLE, ensure_rejects_table
from workflow_platform.feeds.semantics import standardize
from workflow_platform.sql import ident, literal

JODA_TO_STRFTIME = [
    ("yyyy", "%Y"), ("yy", "%y"), ("MMM", "%b"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("hh", "%I"),
    ("mm", "%M"), ("ss", "%S"), ("SSSSSS", "%f"), ("SSS", "%g"), ("a", "%p"), ("Z", "%z"),
]
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


def joda_to_strftime(fmt: str) -> str:
    """`yyyy-MM-dd HH:mm:ss` -> `%Y-%m-%d %H:%M:%S` (single-quoted text is literal)."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "'":
            end = fmt.index("'", i + 1) if "'" in fmt[i + 1 :] else len(fmt)
            out.append(fmt[i + 1 : end].replace("%", "%%"))
            i = end + 1
            continue
        for joda, strf in JODA_TO_STRFTIME:
            if fmt.startswith(joda, i):
                out.append(strf)
                i += len(joda)
                break
        else:
            out.append("%%" if fmt[i] == "%" else fmt[i])
            i += 1
    return "".join(out)


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


def _source_sql(feed: Feed, couriers: list[Courier]) -> str:
    parts = []
    for index, courier in enumerate(couriers):
        cols = ", ".join(f"r.{ident(c.name)}" for c in feed.columns)
        parts.append(
            f"SELECT {cols}, r._file, r._file_date, r._seq + {index * 1_000_000} AS _seq, "
            f"r.rowid - f.first_rowid + f.header_rows + 1 AS _line, {literal(courier.name)} AS _courier "
            f"FROM {raw_table(courier)} r JOIN {files_table(courier)} f ON r._seq = f._seq"
        )
    return " UNION ALL ".join(parts)


def stage_feed(conn: duckdb.DuckDBPyConnection, feed: Feed, couriers: list[Courier], settings: StitchSettings,
               threshold_override: float | None = None) -> FeedResult:
    """Build `staging.<feed>` from the couriers' raw tables. Raises FeedThresholdExceeded (after recording
    the rejects) when a file is over the error threshold."""
    ensure_rejects_table(conn)
    conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
    source = _source_sql(feed, couriers)
    conn.execute(f"CREATE OR REPLACE TEMP VIEW wp_source AS {source}")
    failures = []  # (column, condition, reason)
    for column in feed.columns:
        raw = ident(column.name)
        present = f"nullif(trim({raw}), '') IS NOT NULL"
        failures.append((column.name, f"{present} AND ({typed_expr(column, raw)}) IS NULL",
                         f"not a valid {column.type}" + (f" in format {column.format}" if column.format else "")))
    for name in feed.primary_key:
        col = next(c for c in feed.columns if c.name == name)
        failures.append((name, f"({typed_expr(col, ident(name))}) IS NULL AND nullif(trim({ident(name)}), '') IS NULL",
                         "primary key is empty"))

    reject_parts = [
        f"SELECT _courier, {literal(feed.name)}, _file, _line, {literal(col)}, left(CAST({ident(col)} AS VARCHAR), 500), "
        f"{literal(reason)}, now() FROM wp_source WHERE {cond}"
        for col, cond, reason in failures
    ]
    conn.execute(f"INSERT INTO {REJECTS_TABLE} {' UNION ALL '.join(reject_parts)}")
    any_failure = " OR ".join(f"({cond})" for _, cond, _ in failures)
    per_file = conn.execute(
        f"""
        SELECT s._file, count(*) AS rows, count(*) FILTER (WHERE {any_failure}) AS rejected
        FROM wp_source s GROUP BY s._file ORDER BY min(s._seq)
        """
    ).fetchall()
    bad_lines = _bad_lines(conn, couriers)
    threshold = feed.error_threshold if threshold_override is None else threshold_override
    report, over = [], []
    for file, rows, rejected in per_file:
        rejected += bad_lines.get(file, 0)
        share = 100.0 * rejected / (rows + bad_lines.get(file, 0)) if rows else 0.0
        report.append({"file": file, "rows": rows, "rejected": rejected, "rejected_pct": round(share, 3)})
        if share > threshold:
            over.append(f"{file}: {rejected} of {rows} rows rejected ({share:.2f}% > {threshold:g}%)")
    for file, count in bad_lines.items():
        if file not in {r["file"] for r in report} and count:
            report.append({"file": file, "rows": 0, "rejected": count, "rejected_pct": 100.0})
            over.append(f"{file}: all {count} lines malformed")
    if over:
        raise FeedThresholdExceeded(
            f"feed {feed.name!r}: error threshold exceeded, nothing loaded (see {REJECTS_TABLE}):\n  " + "\n  ".join(over)
        )

    selects = []
    for column in feed.columns:
        typed = typed_expr(column, ident(column.name))
        selects.append(f"{standardize(typed, column.tag, settings)} AS {ident(column.name)}")
    pk_parts = [f"CAST({typed_expr(c, ident(c.name))} AS VARCHAR)" for c in feed.columns if c.name in feed.primary_key]
    pk = pk_parts[0] if len(pk_parts) == 1 else f"concat_ws('|', {', '.join(pk_parts)})"
    conn.execute(
        f"CREATE OR REPLACE TABLE staging.{ident(feed.name)} AS SELECT {', '.join(selects)}, {pk} AS _pk, "
        f"_file, _file_date, _seq, _line FROM wp_source WHERE NOT ({any_failure})"
    )
    conn.execute("DROP VIEW wp_source")
    rows_in = sum(r["rows"] for r in report)
    rejected = sum(r["rejected"] for r in report)
    staged = conn.execute(f"SELECT count(*) FROM staging.{ident(feed.name)}").fetchone()[0]
    return FeedResult(rows_in=rows_in, rows_staged=staged, rows_rejected=rejected, per_file=report)


def _bad_lines(conn, couriers: list[Courier]) -> dict[str, int]:
    out: dict[str, int] = {}
    for courier in couriers:
        for file, bad in conn.execute(f"SELECT _file, bad_lines FROM {files_table(courier)}").fetchall():
            out[file] = out.get(file, 0) + int(bad or 0)
    return out
