"""The Stitch input: every record of every Stitch feed, one column per semantic tag (`stitch.records`)."""

from __future__ import annotations

import duckdb

from workflow_platform.catalog.models import PII_TAGS, Catalog
from workflow_platform.sql import ident, literal, table_exists

RECORDS_TABLE = "stitch.records"


def tag_column(tag: str) -> str:
    """given-name -> given_name; fk-loyalty -> fk_loyalty."""
    return tag.replace("-", "_")


def mailbox(email: str) -> str:
    """SQL: the mailbox an email address reaches, its sub-address dropped (RFC 5233: jane+shop@x.com -> jane@x.com).
    Stitch matches on it; the domain table keeps the address as given."""
    return f"regexp_replace({email}, '\\+[^@]*@', '@')"


def initial_sql(left: str, right: str, dialect: str = "duckdb") -> str:
    """SQL: one given name is the initial of the other (J ~ JAMES). The name comparison (stitch/model.py) and the
    household guard (stitch/probabilistic.py) share it; Spark SQL spells starts_with `startswith`."""
    starts = "startswith" if dialect == "spark" else "starts_with"
    return (f"((length({left}) = 1 AND {starts}({right}, {left})) OR "
            f"(length({right}) = 1 AND {starts}({left}, {right})))")


def fk_namespaces(catalog: Catalog) -> list[str]:
    return sorted({t for f in catalog.feeds for c in f.columns for t in c.tag if t.startswith(("fk-", "sk-"))})


def match_columns(catalog: Catalog) -> dict[str, str]:
    """The catalog's extra match columns (`stitch.match_columns`): name -> comparison kind."""
    return {name: spec if isinstance(spec, str) else spec.kind for name, spec in catalog.stitch.match_columns.items()}


def match_column_source(catalog: Catalog, name: str, feed) -> str | None:
    """The column of `feed` that fills match column `name`: the one the catalog maps, else one of that name."""
    spec = catalog.stitch.match_columns[name]
    column = spec.columns.get(feed.name, name) if not isinstance(spec, str) else name
    return column if any(c.name == column for c in feed.columns) else None


def build_records(conn: duckdb.DuckDBPyConnection, catalog: Catalog) -> int:
    """(Re)build stitch.records from the domain tables of the Stitch feeds; returns the record count."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS stitch")
    tags = list(PII_TAGS) + fk_namespaces(catalog)
    parts = []
    for feed in catalog.stitch_feeds:
        if not table_exists(conn, feed.table):
            continue
        selects = []
        for tag in tags:
            column = next((c for c in feed.columns if tag in c.tag), None)
            value = f"CAST({ident(column.name)} AS VARCHAR)" if column else "CAST(NULL AS VARCHAR)"
            if tag == "birthdate":
                value = f"CAST({ident(column.name)} AS DATE)" if column else "CAST(NULL AS DATE)"
            selects.append(f"{value} AS {ident(tag_column(tag))}")
        for name in match_columns(catalog):  # compared as trimmed upper-case text
            column = match_column_source(catalog, name, feed)
            value = f"nullif(upper(trim(CAST({ident(column)} AS VARCHAR))), '')" if column else "CAST(NULL AS VARCHAR)"
            selects.append(f"{value} AS {ident(name)}")
        last = next((c for c in feed.columns if c.name == feed.last_updated), None)
        temporal = last is not None and last.type in ("date", "datetime")  # an integer version is no time
        updated = f"coalesce(CAST({ident(last.name)} AS TIMESTAMP), _updated)" if temporal else "_updated"
        parts.append(
            f"SELECT {literal(feed.name)} AS source, _pk AS pk, {literal(feed.name)} || ':' || _pk AS record_key, "
            f"{feed.priority} AS priority, {updated} AS updated_at, {', '.join(selects)} FROM {feed.table_sql}"
        )
    if not parts:
        columns = ", ".join(f"{ident(tag_column(t))} VARCHAR" for t in [*tags, *match_columns(catalog)]).replace(
            '"birthdate" VARCHAR', '"birthdate" DATE')
        conn.execute(f"CREATE OR REPLACE TABLE {RECORDS_TABLE} (source VARCHAR, pk VARCHAR, record_key VARCHAR, "
                     f"priority INTEGER, updated_at TIMESTAMP, {columns})")
    else:
        conn.execute(f"CREATE OR REPLACE TABLE {RECORDS_TABLE} AS {' UNION ALL '.join(parts)} ORDER BY record_key")
    return conn.execute(f"SELECT count(*) FROM {RECORDS_TABLE}").fetchone()[0]
