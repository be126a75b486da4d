"""Asset metadata the UI shows: row counts, column schemas, previews, elapsed time."""

from __future__ import annotations

import re
import time

import dagster as dg
import duckdb

from workflow_platform.sql import ident

PREVIEW_ROWS = 5
INTERNAL_COLUMNS = {  # the columns the platform adds to domain tables, explained where the UI lists columns
    "_pk": "the row's primary key (the feed's pk columns joined), computed",
    "_updated": "when this row was last inserted or changed by a load (UTC)",
    "_file": "the file the row's current values came from",
    "_file_date": "the date the courier's pattern matched that file for",
    "_line": "the row's line number in that file",
    "_reject": "why the row was refused (staging only)",
}


def table_schema(conn: duckdb.DuckDBPyConnection, schema: str, table: str, temporary: bool = False) -> dg.TableSchema:
    rows = conn.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "AND (database_name = 'temp') = ? ORDER BY column_index", [schema, table, temporary]).fetchall()
    return dg.TableSchema(columns=[dg.TableColumn(name, kind, description=INTERNAL_COLUMNS.get(name))
                                   for name, kind in rows])


EMAIL_LIKE = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
PHONE_LIKE = re.compile(r"\+?[\d\s().-]{10,}")  # 10+ characters of digits and phone punctuation only


def pii_columns(catalog) -> frozenset[str]:
    """Column names that hold personal data in this tenant: PII-tagged feed columns and the tag-named columns
    of Stitch and database tables (lower case)."""
    from workflow_platform.catalog.models import PII_TAGS

    sources = [*catalog.feeds, *(t.as_feed for t in catalog.custom_domain_tables)]
    tagged = {c.name for f in sources for c in f.columns if set(c.tag) & set(PII_TAGS)}
    return frozenset(n.lower() for n in tagged | {t.replace("-", "_") for t in PII_TAGS})


def preview_markdown(conn: duckdb.DuckDBPyConnection, qualified: str, rows: int = PREVIEW_ROWS,
                     pii: frozenset[str] = frozenset()) -> str:
    """The first rows as a Markdown table. Values of `pii` columns, and any value that looks like an email or a
    phone number, show as ••• (metadata lives in the event log, where customer values must not)."""
    result = conn.execute(f"SELECT * FROM {qualified} LIMIT {int(rows)}")
    names = [d[0] for d in result.description]
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for row in result.fetchall():
        cells = []
        for name, value in zip(names, row, strict=True):
            text = "" if value is None else str(value)
            if text and (name.lower() in pii or (isinstance(value, str) and _looks_like_contact(text))):
                text = "•••"
            cells.append(text.replace("|", "\\|").replace("\n", " ")[:60])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _looks_like_contact(text: str) -> bool:
    return bool(EMAIL_LIKE.search(text) or (PHONE_LIKE.fullmatch(text.strip()) and sum(c.isdigit() for c in text) >= 10))


def table_metadata(conn: duckdb.DuckDBPyConnection, schema: str, table: str, temporary: bool = False,
                   pii: frozenset[str] = frozenset()) -> dict:
    """Row count, column schema and a preview (personal data masked) of a warehouse table (or of a temporary
    table of `conn`)."""
    qualified = f"{'temp.' if temporary else ''}{ident(schema)}.{ident(table)}"
    count = conn.execute(f"SELECT count(*) FROM {qualified}").fetchone()[0]
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(count),
        "dagster/column_schema": table_schema(conn, schema, table, temporary),
        "preview": dg.MetadataValue.md(preview_markdown(conn, qualified, pii=pii)),
    }
    if not temporary:
        metadata["dagster/table_name"] = f"{schema}.{table}"
    return metadata


def markdown_table(rows: list[dict]) -> dg.MetadataValue:
    if not rows:
        return dg.MetadataValue.md("(none)")
    names = list(rows[0])
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(str(r[n]) for n in names) + " |" for r in rows]
    return dg.MetadataValue.md("\n".join(lines))


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return round(time.perf_counter() - self.started, 3)


def catalog_schema(feed) -> dg.TableSchema:
    """The feed's columns as the catalog declares them (shown before the first load), semantic tags included."""
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.type, description=c.description or None,
                       tags={f"semantic/{t}": "" for t in c.tag})
        for c in feed.columns
    ])


def same_name_lineage(feed, upstream: dg.AssetKey) -> dg.TableColumnLineage:
    """Each column of a table comes from the column of the same name upstream."""
    return dg.TableColumnLineage(deps_by_column={
        c.name: [dg.TableColumnDep(asset_key=upstream, column_name=c.name)] for c in feed.columns
    })
