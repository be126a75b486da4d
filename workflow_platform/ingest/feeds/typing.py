"""Type and standardize a feed's files into the load step's staging table, sending refused rows to the rejects.

One SQL pass per file, straight from DuckDB's reader. A value that is present but does not fit its column
(not one of the accepted forms of its type, an impossible date, longer than the limit) is loaded as NULL and
recorded in audit.value_problems (the value policy); in a key column, the last_updated column or a column with
`on_invalid: reject_row` it rejects the row instead. A file whose rejected share exceeds the feed's error
threshold is not loaded. Numbers are read only in forms that mean one number: never rounded, never guessed.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from workflow_platform.catalog.models import Courier, Feed, FeedColumn, FileFormat, FileLimits, StitchSettings
from workflow_platform.formats.joda import joda_to_strftime
from workflow_platform.ingest.audit import PENDING_REJECTS, PENDING_VALUE_PROBLEMS, ensure_pending_rejects
from workflow_platform.ingest.feeds.ingest_sql import run_ingest_sql
from workflow_platform.ingest.feeds.semantics import standardize
from workflow_platform.ingest.files.landed import LandedFile
from workflow_platform.ingest.files.reading import (
    DELIMITED,
    Readable,
    UnreadableFile,
    column_map,
    describe,
    header_of,
    read_error,
    reader_sql,
    record_bad_lines,
)
from workflow_platform.ingest.files.textfiles import FileRefused, Header, normalized_copy
from workflow_platform.ingest.files.unpack import readables
from workflow_platform.ingest.staging import (
    key_expression,
    registered_files,
    staging_files_table,
    staging_name,
    staging_table,
)
from workflow_platform.sql import ident, literal

TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")

# The accepted textual forms of numbers (docs/catalog.md, "Numbers"): an optional sign, digits, one '.' for
# decimals. No thousands separators (1,234 is a thousand and more in one country and a decimal in another),
# no spaces inside, no currency symbols: such values do not fit and are never guessed at.
INTEGER_FORM = r"[+-]?[0-9]+(\.0*)?"  # 12, -3, 12.0 (a whole number written with a zero fraction)
FLOAT_FORM = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?"  # 12, 1.5, .5, 1e-3


def decimal_form(precision: int, scale: int) -> str:
    """decimal(p,s): at most p-s digits before the point and s after (more only as trailing zeros)."""
    whole = f"0*[0-9]{{1,{precision - scale}}}" if precision > scale else "0*"
    fraction = f"(\\.[0-9]{{0,{scale}}}0*)?" if scale else "(\\.0*)?"
    return f"[+-]?({whole}{fraction}|\\.[0-9]{{1,{scale}}}0*)" if scale else f"[+-]?{whole}{fraction}"


# Reasons a value does not fit, by type (what a person can act on; the value itself stays in the audit table)
NUMBER_RULES = "no thousands separators, spaces or currency symbols"


def invalid_reason(column: FeedColumn) -> str:
    kind = column.type
    if kind == "integer":
        return f"not an integer (digits with an optional sign; {NUMBER_RULES})"
    if kind == "float":
        return f"not a number (digits, one '.' for decimals, an optional exponent; {NUMBER_RULES})"
    if kind.startswith("decimal"):
        p, s = map(int, re.findall(r"\d+", kind))
        return (f"not a {kind} number (at most {p - s} digits before the point and {s} after; {NUMBER_RULES})")
    if kind == "boolean":
        return f"not a boolean (one of {', '.join(TRUE_WORDS + FALSE_WORDS)})"
    return f"not a valid {kind}" + (f" in format {column.format}" if column.format else "")


@dataclass
class FileOutcome:
    """What staging decided for one landed file: loaded, rejected (over the threshold) or quarantined."""

    courier: str
    file: str
    rows: int  # rows read, malformed lines included
    rejected: int
    status: str
    reason: str = ""
    nulled: int = 0  # values loaded as NULL (audit.value_problems)


@dataclass
class FeedResult:
    rows_in: int  # of the loaded files
    rows_staged: int
    rows_rejected: int
    files: list[FileOutcome] = field(default_factory=list)
    values_nulled: int = 0  # of the loaded files

    @property
    def refused(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status != "loaded"]


def typed_expr(column: FeedColumn, raw: str) -> str:
    """SQL turning the text value `raw` into the column's type (NULL when it does not fit)."""
    value = f"nullif(trim({raw}), '')"
    kind = column.type
    if kind == "string":
        return f"nullif({raw}, '')"
    if kind == "integer":
        return (f"CASE WHEN regexp_full_match({value}, {literal(INTEGER_FORM)}) "
                f"THEN TRY_CAST(regexp_replace({value}, '\\.0*$', '') AS BIGINT) END")
    if kind == "float":
        return f"CASE WHEN regexp_full_match({value}, {literal(FLOAT_FORM)}) THEN TRY_CAST({value} AS DOUBLE) END"
    if kind.startswith("decimal"):
        p, s = map(int, re.findall(r"\d+", kind))
        return (f"CASE WHEN regexp_full_match({value}, {literal(decimal_form(p, s))}) "
                f"THEN TRY_CAST({value} AS DECIMAL({p},{s})) END")
    if kind == "boolean":
        trues = ", ".join(literal(w) for w in TRUE_WORDS)
        falses = ", ".join(literal(w) for w in FALSE_WORDS)
        return f"CASE WHEN lower({value}) IN ({trues}) THEN true WHEN lower({value}) IN ({falses}) THEN false END"
    target = "DATE" if kind == "date" else "TIMESTAMP"
    if column.format:
        return f"CAST(try_strptime({value}, {literal(joda_to_strftime(column.format))}) AS {target})"
    return f"TRY_CAST({value} AS {target})"


def is_key(column: FeedColumn) -> bool:
    """Key columns (pk, fk-, sk-) are compared as identifiers: stored without surrounding whitespace."""
    return any(t == "pk" or t.startswith(("fk-", "sk-")) for t in column.tag)


def _create(table: str) -> str:
    """CREATE OR REPLACE for a temp.main.<name> table."""
    return f"CREATE OR REPLACE TEMP TABLE {table.removeprefix('temp.main.')}"


def _select_list(feed: Feed, mapping: dict[str, str], settings: StitchSettings, limits: FileLimits,
                 temporal_sources: frozenset[str] = frozenset()) -> str:
    """Typed and standardized columns, the primary key, `_reject` (NULL, or column/value/reason of the problem
    that rejects the row) and `_nulled` (NULL, or a list of the values loaded as NULL: column/value/reason).

    Source columns in `temporal_sources` are already dates or timestamps (Parquet): formats, which describe
    text, are skipped for them."""
    selects, rejecting, nulling, stored = [], [], [], {}
    for column in feed.columns:
        if column.format and mapping[column.name] in temporal_sources:
            column = column.model_copy(update={"format": None})
        raw = f"CAST({ident(mapping[column.name])} AS VARCHAR)"  # typed readers (parquet, json) too
        if is_key(column):
            raw = f"trim({raw}, {literal(' ' + chr(9))})"  # ' 1683994' is the key 1683994
        if column.type == "string":  # any text fits a string column, up to the longest value allowed
            # strlen (bytes, stored with the string) first: length (characters) only for the long ones. The
            # text is cut to NULL before standardization: a CASE around the standardized expression instead
            # made the whole read 2.5x slower (measured on 500k rows)
            cap = int(limits.max_value_chars)
            too_long = f"(strlen({raw}) > {cap} AND length({raw}) > {cap})"
            problems = [(too_long, f"longer than {limits.max_value_chars:,} characters (file.limits.max_value_chars)")]
            typed = typed_expr(column, f"CASE WHEN NOT {too_long} THEN {raw} END")
        else:
            typed = typed_expr(column, raw)
            problems = [(f"nullif(trim({raw}), '') IS NOT NULL AND ({typed}) IS NULL", invalid_reason(column))]
        stored[column.name] = standardize(typed, column.tag, settings)
        selects.append(f"{stored[column.name]} AS {ident(column.name)}")
        rejects_row = ("pk" in column.tag or column.name == feed.last_updated or column.on_invalid == "reject_row")
        (rejecting if rejects_row else nulling).extend((column.name, raw, cond, why) for cond, why in problems)
    for name in feed.primary_key:  # a key part that is empty as stored (after standardization too)
        raw = f"CAST({ident(mapping[name])} AS VARCHAR)"
        rejecting.append((name, raw, f"nullif(trim(CAST({stored[name]} AS VARCHAR)), '') IS NULL",
                          "primary key is empty"))
    pk = key_expression(feed, stored)

    def problem(name: str, raw: str, reason: str) -> str:
        return f"{{'column_name': {literal(name)}, 'value': left({raw}, 500), 'reason': {literal(reason)}}}"

    reject = " ".join(f"WHEN {cond} THEN {problem(name, raw, why)}" for name, raw, cond, why in rejecting)
    nulled = "NULL::STRUCT(column_name VARCHAR, value VARCHAR, reason VARCHAR)[]"  # typed: unnest() needs a list
    if nulling:
        each = ", ".join(f"CASE WHEN {cond} THEN {problem(name, raw, why)} END" for name, raw, cond, why in nulling)
        nulled = f"CASE WHEN {' OR '.join(f'({c})' for _, _, c, _ in nulling)} THEN [{each}] END"
    return f"{', '.join(selects)}, {pk} AS _pk, CASE {reject} END AS _reject, {nulled} AS _nulled"


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


def _files_table_sql(feed: Feed) -> str:
    return (f"{_create(staging_files_table(feed))} (_seq INTEGER, courier VARCHAR, landed VARCHAR, _file VARCHAR, "
            "first_rowid BIGINT, rows BIGINT, header_rows INTEGER, bad_lines BIGINT)")


def _drop_file(conn: duckdb.DuckDBPyConnection, feed: Feed, courier: str, landed: str, seqs: list[int]) -> None:
    """Take a refused file's rows out of staging and its row rejects out of the load."""
    if seqs and _exists(conn, feed):
        conn.execute(f"DELETE FROM {staging_table(feed)} WHERE _seq IN (SELECT unnest(?::INTEGER[]))", [seqs])
        conn.execute(f"DELETE FROM {staging_files_table(feed)} WHERE _seq IN (SELECT unnest(?::INTEGER[]))", [seqs])
    ensure_pending_rejects(conn)
    conn.execute(f"DELETE FROM {PENDING_REJECTS} WHERE courier = ? AND (file = ? OR starts_with(file, ? || '!'))",
                 [courier, landed, landed])
    _clear_reader_rejects(conn)


def _exists(conn: duckdb.DuckDBPyConnection, feed: Feed) -> bool:
    return bool(conn.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?",
                             [staging_name(feed)]).fetchone()[0])


def _read_unit(conn: duckdb.DuckDBPyConnection, feed: Feed, fmt: FileFormat, readable: Readable, seq: int,
               settings: StitchSettings, scratch: Path, ingest_sql: str | None = None
               ) -> tuple[int, int, Readable, int]:
    """Append one readable unit to the staging table; returns (rows staged, first rowid, the unit as read, rows
    the reader read). With the courier's `ingest_sql` the rows staged are that SQL's result over the file's rows.

    DuckDB's reader stops on a delimited file whose line endings change from line to line (LF with some CRLF),
    and reads UTF-16 in one byte order only: such a file is read from a UTF-8 copy with every line ending LF
    (ingest/files/textfiles.py), so no `\r` stays in a value."""
    header = header_of(readable, fmt) if fmt.format in DELIMITED else None
    if header is not None and header.encoding == "utf-16":
        readable, header = _plain_copy(readable, header, fmt, scratch / f"{seq}.csv")
    relation = f"wp_ingest_{seq}" if ingest_sql else None  # the ingest SQL's result, registered on `conn`
    if relation:
        rows_read, readable = _ingest_relation(conn, fmt, readable, header, seq, scratch, ingest_sql, relation)
        described = {d[0]: str(d[1]) for d in conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
        try:
            mapping = column_map(conn, readable, feed, fmt, list(described), by_name=True)
        except UnreadableFile as exc:
            conn.unregister(relation)
            raise UnreadableFile(f"{exc} (the columns of the courier's ingest_sql result)") from exc
        temporal = frozenset(n for n, t in described.items() if t.startswith(("DATE", "TIMESTAMP")))
    else:
        mapping = column_map(conn, readable, feed, fmt, header.names if header else None)
        temporal = frozenset()
        if fmt.format == "parquet":
            temporal = frozenset(n for n, t in describe(conn, readable, fmt).items()
                                 if t.startswith(("DATE", "TIMESTAMP")))

    def sources() -> str:  # the reader of the unit as it is now (an LF copy replaces it below)
        return relation or reader_sql(readable, fmt, header, list(mapping.values()))

    columns = _select_list(feed, mapping, settings, fmt.limits, temporal)
    day = f"CAST({literal(readable.day) if readable.day else 'NULL'} AS DATE)"
    try:
        if not _exists(conn, feed):
            conn.execute(f"{_create(staging_table(feed))} AS SELECT {columns}, NULL::VARCHAR AS _file, "
                         f"{day} AS _file_date, 0 AS _seq FROM {sources()} LIMIT 0")
        while True:
            select = (f"SELECT {columns}, {literal(readable.label)} AS _file, {day} AS _file_date, {seq} AS _seq "
                      f"FROM {sources()}")
            first_rowid = conn.execute(f"SELECT count(*) FROM {staging_table(feed)}").fetchone()[0]
            try:
                rows = conn.execute(f"INSERT INTO {staging_table(feed)} {select}").fetchone()[0]
                return rows, first_rowid, readable, rows_read if relation else rows
            except duckdb.Error as exc:
                if relation or header is None or "state machine" not in str(exc) or \
                        readable.url.startswith(str(scratch)):
                    raise read_error(readable, fmt, exc) from exc
            _clear_reader_rejects(conn)
            readable, header = _plain_copy(readable, header, fmt, scratch / f"{seq}.csv")
    finally:
        if relation:
            conn.unregister(relation)


def _ingest_relation(conn: duckdb.DuckDBPyConnection, fmt: FileFormat, readable: Readable, header: Header | None,
                     seq: int, scratch: Path, ingest_sql: str, relation: str) -> tuple[int, Readable]:
    """Read the unit's rows (from an LF copy when the reader stops on its line endings) and register the ingest
    SQL's result over them as `relation`; returns the rows read and the unit as read."""
    while True:
        try:
            rows = conn.sql(f"SELECT * FROM {reader_sql(readable, fmt, header)}").to_arrow_table()
            break
        except duckdb.Error as exc:
            if header is None or "state machine" not in str(exc) or readable.url.startswith(str(scratch)):
                raise read_error(readable, fmt, exc) from exc
        _clear_reader_rejects(conn)
        readable, header = _plain_copy(readable, header, fmt, scratch / f"{seq}.csv")
    run_ingest_sql(conn, rows, ingest_sql, readable.label, relation)
    return rows.num_rows, readable


def _plain_copy(readable: Readable, header: Header, fmt: FileFormat, target: Path) -> tuple[Readable, Header]:
    """The unit copied with LF line endings (UTF-16 as UTF-8) into `target`, and its header for the copy."""
    try:
        encoding = normalized_copy(readable.url, readable.unpacking(fmt), header.encoding, str(target),
                                   readable.label, fmt.limits)
    except (FileRefused, UnicodeError) as exc:
        raise UnreadableFile(str(exc) if isinstance(exc, FileRefused)
                           else f"{readable.label}: not valid {header.encoding}") from exc
    return Readable(str(target), readable.label, readable.day, "none"), Header(header.names, encoding)


def _clear_reader_rejects(conn: duckdb.DuckDBPyConnection) -> None:
    for scratch in ("wp_reject_errors", "wp_reject_scans"):  # what a failed read may have left
        if conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [scratch]).fetchone()[0]:
            conn.execute(f"DELETE FROM {scratch}")


def stage_feed(conn: duckdb.DuckDBPyConnection, feed: Feed, couriers: list[Courier], settings: StitchSettings,
               threshold_override: float | None = None) -> FeedResult:
    """Read the couriers' registered files once, typed and standardized, into the staging table.

    Rows that fail typing stay in staging with `_reject` set (so line numbers stay exact) and are copied to the
    load's pending rejects (ingest/audit.py). Each file is decided on its own: `loaded`; `rejected` when its
    rejected share is over the error threshold; `quarantined` when it cannot be read to the end (an encoding
    error, an unterminated quote, binary junk) or holds no rows. Refused files leave staging. Run it outside an
    explicit transaction: line numbers come from the committed rowids."""
    ensure_pending_rejects(conn)
    conn.execute(_files_table_sql(feed))
    conn.execute(f"DROP TABLE IF EXISTS {staging_table(feed)}")
    outcomes, skipped = _read_files(conn, feed, couriers, settings)
    if not _exists(conn, feed):  # no readable file at all: an empty staging table with the feed's columns
        mapping = {c.name: c.name for c in feed.columns}
        empty = ", ".join(f"CAST(NULL AS VARCHAR) AS {ident(c.name)}" for c in feed.columns)
        conn.execute(f"{_create(staging_table(feed))} AS SELECT "
                     f"{_select_list(feed, mapping, settings, FileLimits())}, "
                     f"NULL::VARCHAR AS _file, NULL::DATE AS _file_date, 0 AS _seq FROM (SELECT {empty}) LIMIT 0")
    _number_lines(conn, feed, skipped)
    _pend_problems(conn, feed)
    outcomes += _decide_files(conn, feed, feed.error_threshold if threshold_override is None else threshold_override)
    loaded = [o for o in outcomes if o.status == "loaded"]
    return FeedResult(rows_in=sum(o.rows for o in loaded), rows_staged=sum(o.rows - o.rejected for o in loaded),
                      rows_rejected=sum(o.rejected for o in loaded), files=outcomes,
                      values_nulled=sum(o.nulled for o in loaded))


def _read_files(conn: duckdb.DuckDBPyConnection, feed: Feed, couriers: list[Courier],
                settings: StitchSettings) -> tuple[list[FileOutcome], list[tuple[int, int]]]:
    """Append every registered file to staging, in order; returns the files quarantined while reading, and the
    (unit seq, line) of the malformed lines the reader left out of the others."""
    seq = 0
    skipped: list[tuple[int, int]] = []
    quarantined: list[FileOutcome] = []
    with tempfile.TemporaryDirectory(prefix="wp-stage-") as scratch:
        for courier in couriers:
            for landed in registered_files(conn, courier):
                seqs: list[int] = []  # the file's units, as they are read
                try:
                    skipped += _read_file(conn, feed, courier, landed, settings, Path(scratch), seq + 1, seqs)
                except UnreadableFile as exc:
                    _drop_file(conn, feed, courier.name, landed.relative, seqs)
                    quarantined.append(FileOutcome(courier.name, landed.relative, 0, 0, "quarantined", str(exc)))
                seq += len(seqs)
    return quarantined, skipped


def _read_file(conn: duckdb.DuckDBPyConnection, feed: Feed, courier: Courier, landed: LandedFile,
               settings: StitchSettings, scratch: Path, first_seq: int, seqs: list[int]) -> list[tuple[int, int]]:
    """Append the units of one file (numbered from `first_seq`, each added to `seqs` before it is read) to
    staging; returns its malformed lines. A file without a row raises UnreadableFile."""
    fmt = courier.file
    header = 1 if (fmt.header and fmt.format in DELIMITED) else 0
    skipped: list[tuple[int, int]] = []
    read = 0  # the file's own rows and malformed lines (an ingest SQL may keep none of them: that is its choice)
    with readables(landed, fmt) as members:
        for readable in members:
            seq = first_seq + len(seqs)
            seqs.append(seq)
            rows, first_rowid, unit, rows_read = _read_unit(conn, feed, fmt, readable, seq, settings, scratch,
                                                            courier.ingest_sql)
            bad = record_bad_lines(conn, courier, feed, unit, rows_read, header) if fmt.format in DELIMITED else []
            skipped += [(seq, line) for line in bad]
            read += rows_read + len(bad)
            conn.execute(f"INSERT INTO {staging_files_table(feed)} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         [seq, courier.name, landed.relative, unit.label, first_rowid, rows, header, len(bad)])
    if not read:
        raise UnreadableFile(f"{landed.relative}: " + ("has a header and no rows" if header else "has no rows"))
    return skipped


def _number_lines(conn: duckdb.DuckDBPyConnection, feed: Feed, skipped: list[tuple[int, int]]) -> None:
    """`_line`, each row's line in its file, from the committed rowids (they follow file order: each file was
    appended in order) and past the malformed lines the reader skipped."""
    conn.execute(f"ALTER TABLE {staging_table(feed)} ADD COLUMN _line BIGINT")
    conn.execute(f"UPDATE {staging_table(feed)} s SET _line = s.rowid - f.first_rowid + f.header_rows + 1 "
                 f"FROM {staging_files_table(feed)} f WHERE s._seq = f._seq")
    if skipped:
        _shift_lines_past_skipped(conn, feed, skipped)


def _pend_problems(conn: duckdb.DuckDBPyConnection, feed: Feed) -> None:
    """Copy the rejected rows and the values loaded as NULL into the load's pending audit tables."""
    conn.execute(
        f"INSERT INTO {PENDING_REJECTS} SELECT f.courier, {literal(feed.name)}, s._file, s._line, "
        f"s._reject.column_name, s._reject.value, s._reject.reason, now() "
        f"FROM {staging_table(feed)} s JOIN {staging_files_table(feed)} f USING (_seq) WHERE s._reject IS NOT NULL"
    )
    conn.execute(
        f"INSERT INTO {PENDING_VALUE_PROBLEMS} SELECT f.courier, {literal(feed.name)}, s._file, s._line, "
        f"s.p.column_name, s.p.value, s.p.reason, now() FROM (SELECT _seq, _file, _line, unnest(_nulled) AS p "
        f"FROM {staging_table(feed)} WHERE _reject IS NULL AND _nulled IS NOT NULL) s "
        f"JOIN {staging_files_table(feed)} f USING (_seq) WHERE s.p IS NOT NULL"
    )


def _decide_files(conn: duckdb.DuckDBPyConnection, feed: Feed, threshold: float) -> list[FileOutcome]:
    """Each staged file loaded, or rejected (and taken out of staging) when its rejected share is over the
    error threshold."""
    per_file = conn.execute(
        f"SELECT f.courier, f.landed, list(f._seq), sum(f.rows)::BIGINT, sum(coalesce(r.rejected, 0))::BIGINT, "
        f"sum(f.bad_lines)::BIGINT, sum(coalesce(r.nulled, 0))::BIGINT FROM {staging_files_table(feed)} f "
        f"LEFT JOIN (SELECT _seq, count(*) FILTER (WHERE _reject IS NOT NULL) AS rejected, "
        f"sum(CASE WHEN _reject IS NULL THEN len(list_filter(_nulled, lambda x: x IS NOT NULL)) END) AS nulled "
        f"FROM {staging_table(feed)} WHERE _reject IS NOT NULL OR _nulled IS NOT NULL "
        f"GROUP BY _seq) r USING (_seq) GROUP BY f.courier, f.landed ORDER BY min(f._seq)"
    ).fetchall()
    outcomes = []
    for courier_name, landed, seqs, rows, rejected, bad_lines, nulled in per_file:
        total, refused = rows + bad_lines, rejected + bad_lines
        share = 100.0 * refused / total if total else 0.0
        outcome = FileOutcome(courier_name, landed, total, refused, "loaded", nulled=nulled)
        if share > threshold:
            first = conn.execute(  # where to look first: lines and reasons (values stay in audit.rejects)
                f"SELECT _file, _line, _reject.column_name, _reject.reason FROM {staging_table(feed)} "
                "WHERE _reject IS NOT NULL AND _seq IN (SELECT unnest(?::INTEGER[])) ORDER BY _seq, _line LIMIT 3",
                [seqs]).fetchall()
            examples = "; ".join(f"{file}:{line}: {column}: {reason}" for file, line, column, reason in first)
            outcome.status = "rejected"
            outcome.reason = (f"{landed}: {refused} of {total} rows rejected ({share:.2f}% > {threshold:g}% "
                              f"error threshold of feed {feed.name!r})" + (f"; first: {examples}" if examples else ""))
            conn.execute(f"DELETE FROM {staging_table(feed)} WHERE _seq IN (SELECT unnest(?::INTEGER[]))", [seqs])
            conn.execute(f"DELETE FROM {PENDING_VALUE_PROBLEMS} WHERE courier = ? AND (file = ? OR "
                         "starts_with(file, ? || '!'))", [courier_name, landed, landed])
            outcome.nulled = 0
        outcomes.append(outcome)
    return outcomes
