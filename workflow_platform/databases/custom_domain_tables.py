"""Custom domain tables `domain/<name>`: a catalog SELECT over the feeds' domain tables (union, clean, reshape
several sources), built in the build run after the loads and before Stitch, which reads them like feeds (their
columns carry semantic tags). Amperity's rule: a custom domain table runs only when an input changed. Its
version is the table's definition (SQL, columns) plus, for each table it reads, the rows and the newest
`_updated` (databases/versions.py): an unchanged version skips the SQL, and the materialization says so
(`rebuilt: false`, the same Dagster data version), unless the run's refresh mode says otherwise.

The module lives with the databases because it runs catalog SQL the way a database table does (sandboxed,
within the time, row and memory limits of one catalog statement); its assets sit before Stitch in the graph.
"""

import datetime as dt

import dagster as dg
import duckdb

from workflow_platform.catalog.models import Catalog, CustomDomainTable
from workflow_platform.catalog.validate import is_time_dependent, sql_tables
from workflow_platform.databases.versions import needs_rebuild, record_version, refresh_mode, table_version
from workflow_platform.ingest.domain.merge import sql_type
from workflow_platform.ingest.staging import key_expression
from workflow_platform.keys import domain_key, table_key
from workflow_platform.metadata import Stopwatch, catalog_schema, pii_columns, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.segments.build import SegmentSqlError, materialize_catalog_select
from workflow_platform.sql import ident, table_exists, transaction


class CustomTableError(Exception):
    """The SELECT does not give what the catalog declares (a missing column, a value that does not convert,
    repeated keys); the message names the table and the column, never a value."""


def build_custom_domain_assets(catalog: Catalog) -> list[dg.AssetsDefinition]:
    return [_asset(catalog, table) for table in catalog.custom_domain_tables]


def _asset(catalog: Catalog, table: CustomDomainTable) -> dg.AssetsDefinition:
    reads = sorted(sql_tables(table.sql))
    time_dependent = is_time_dependent(table.sql)
    feed = table.as_feed
    tagged = ", ".join(f"{c.name} ({'/'.join(c.tag)})" for c in table.columns if c.tag)

    @dg.asset(
        key=domain_key(table.name),
        deps=[table_key(t) for t in reads],
        description=(table.description or f"Custom domain table over {', '.join(reads) or 'no table'}.")
        + f" Rebuilt when a table it reads changes; semantic tags: {tagged or 'none'}.",
        kinds={"duckdb", "sql", "table"},
        pool=WAREHOUSE_POOL,
        metadata={"source": table.source, "primary_key": ", ".join(feed.primary_key),
                  "dagster/table_name": feed.table, "dagster/column_schema": catalog_schema(feed)},
    )
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        mode = refresh_mode(context.run)
        with warehouse.get_connection() as conn:
            missing = [t for t in reads if not table_exists(conn, t)]
            if missing:
                raise dg.Failure(description=f"{feed.table} reads {', '.join(missing)}, which no load has created yet "
                                             "(run the courier group of that feed first)", allow_retries=False)
            version = table_version(conn, [table.sql, [c.model_dump(mode="json") for c in table.columns],
                                           table.last_updated], reads)
            why = needs_rebuild(conn, feed.table, version, mode, time_dependent)
            if why:
                try:
                    build_custom_domain_table(conn, table, version)
                except (CustomTableError, SegmentSqlError) as exc:
                    raise dg.Failure(description=str(exc)) from exc
            else:
                context.log.info(f"{feed.table}: no table it reads changed since it was built; not rebuilt "
                                 f"(refresh mode {mode})")
            metadata = table_metadata(conn, "domain", table.name, pii=pii_columns(catalog))
        return dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={**metadata, "rebuilt": why is not None, "why": why or "unchanged", "refresh_mode": mode,
                      "inputs_version": version,
                      "elapsed_seconds": dg.MetadataValue.float(clock.seconds)})

    return _build


def build_custom_domain_table(conn: duckdb.DuckDBPyConnection, table: CustomDomainTable, version: str) -> int:
    """Replace `domain.<name>` with the declared columns of the SELECT, typed, plus `_pk` and `_updated` (the
    SELECT's own `_updated` when it carries one, else the build time); returns its rows. Checked first in a
    scratch table: a missing column, a failed conversion or a repeated key leaves the previous table as it was."""
    feed = table.as_feed
    what = f"custom domain table {feed.table}"
    scratch = f"staging.{ident('custom_' + table.name)}"
    conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
    conn.execute("CREATE SCHEMA IF NOT EXISTS domain")
    materialize_catalog_select(conn, "staging", f"custom_{table.name}", table.sql, what=what)
    try:
        found = {r[0].lower(): r[0] for r in conn.execute(f"DESCRIBE {scratch}").fetchall()}
        missing = [c.name for c in table.columns if c.name.lower() not in found]
        if missing:
            raise CustomTableError(f"{what}: its SELECT has no column {', '.join(missing)} (it returns "
                                   f"{len(found)} columns; declared columns are matched by name)")
        source = {c.name: f"s.{ident(found[c.name.lower()])}" for c in table.columns}
        failing = conn.execute("SELECT " + ", ".join(
            f"count(*) FILTER (WHERE {expr} IS NOT NULL AND TRY_CAST({expr} AS {sql_type(c.type)}) IS NULL)"
            for c, expr in zip(table.columns, source.values(), strict=True)) + f" FROM {scratch} s").fetchone()
        bad = [f"{c.name} ({n} value(s) not {c.type})" for c, n in zip(table.columns, failing, strict=True) if n]
        if bad:
            raise CustomTableError(f"{what}: values of its SELECT do not convert to the declared types: "
                                   f"{', '.join(bad)}")
        typed = {c.name: f"CAST({source[c.name]} AS {sql_type(c.type)})" for c in table.columns}
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # UTC, as the feeds' _updated
        updated = "CAST(s._updated AS TIMESTAMP)" if "_updated" in found else f"TIMESTAMP '{now.isoformat(sep=' ')}'"
        select = ", ".join(f"{expr} AS {ident(name)}" for name, expr in typed.items())
        with transaction(conn):
            conn.execute(f"CREATE OR REPLACE TABLE {feed.table_sql} AS SELECT {select}, "
                         f"{key_expression(feed, typed)} AS _pk, {updated} AS _updated FROM {scratch} s")
            repeated = conn.execute(f"SELECT count(*) - count(DISTINCT _pk), count(*) FILTER (WHERE _pk IS NULL) "
                                    f"FROM {feed.table_sql}").fetchone()
            if repeated[0] or repeated[1]:
                raise CustomTableError(f"{what}: {repeated[0]} row(s) repeat a primary key and {repeated[1]} have "
                                       f"none ({', '.join(feed.primary_key)}); each record needs its own key (add "
                                       "the source to the key, or keep one row per key in the SELECT)")
            record_version(conn, feed.table, version)
        return conn.execute(f"SELECT count(*) FROM {feed.table_sql}").fetchone()[0]
    finally:
        conn.execute(f"DROP TABLE IF EXISTS {scratch}")
