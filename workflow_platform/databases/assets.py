"""Dagster assets `database/<db>/<table>`: the Stitch tables of a customer_360 database and custom SQL tables."""


from collections.abc import Callable

import dagster as dg
import duckdb

from workflow_platform.catalog.models import Catalog, Database, DatabaseTable
from workflow_platform.catalog.validate import is_time_dependent, sql_tables
from workflow_platform.databases import build
from workflow_platform.databases.versions import needs_rebuild, record_version, refresh_mode, table_version
from workflow_platform.keys import STITCH_KEY, database_key, domain_key, table_key
from workflow_platform.metadata import Stopwatch, pii_columns, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.segments.build import SegmentSqlError
from workflow_platform.sql import ident
from workflow_platform.tags import DATABASE_TAG

DESCRIPTIONS = {
    "unified_coalesced": "One row per source record after Stitch: source, pk, customer_id, one column per semantic tag, "
    "and the rule that linked it.",
    "merged_customers": "One row per customer_id; each field group (name, email, phone, address, birthdate, gender) "
    "from the most complete record, then source priority, then the newest update, then pk.",
    "customer_360": "merged_customers plus order aggregates: order_count, total_revenue, first/last order date and "
    "average order value.",
}


def _table_asset(catalog: Catalog, db: Database, table: str, deps: list[dg.AssetKey], description: str,
                 run: Callable[[duckdb.DuckDBPyConnection, str], dict | None],
                 checks: dict[str, list[str]] | None = None) -> dg.AssetsDefinition:
    """The asset of one database table: `run(conn, refresh_mode)` builds it (returning metadata about the
    refresh, or None), then the column checks are evaluated."""
    key = database_key(db.name, table)
    specs = [dg.AssetCheckSpec(check_name(column, tag), asset=key, blocking=False,
                               description=f"{tag}: {CHECK_MEANING[tag].format(column=column)} (a warning, as in "
                                           "Amperity: the build goes on)")
             for column, tags in (checks or {}).items() for tag in tags]

    @dg.asset(
        key=key,
        deps=deps,
        description=description,
        kinds={"duckdb", "table"},
        pool=WAREHOUSE_POOL,
        tags={DATABASE_TAG: db.name},
        metadata={"dagster/table_name": f"{db.name}.{table}"},
        check_specs=specs,
    )
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        mode = refresh_mode(context.run)
        with warehouse.get_connection() as conn:
            try:
                refresh = run(conn, mode) or {}
            except SegmentSqlError as exc:  # past the time or row limit of catalog SQL: say which, not a traceback
                raise dg.Failure(description=str(exc)) from exc
            if refresh.get("rebuilt") is False:
                context.log.info(f"{db.name}.{table}: no table it reads changed since it was built; not rebuilt "
                                 f"(refresh mode {mode})")
            metadata = {**table_metadata(conn, db.name, table, pii=pii_columns(catalog)), **refresh}
            results = column_check_results(conn, db.name, table, checks or {})
        for result in results:
            if not result.passed:
                context.log.warning(f"{db.name}.{table}: {result.description}")
        return dg.MaterializeResult(metadata={**metadata, "elapsed_seconds": dg.MetadataValue.float(clock.seconds)},
                                    check_results=results)

    return _build


CHECK_MEANING = {"db/required": "every row has a {column}", "db/unique": "no two rows share a {column}"}
# Amperity tags the customer id of its Stitch tables db/required and db/unique
STANDARD_CHECKS = {"merged_customers": {"customer_id": ["db/required", "db/unique"]},
                   "customer_360": {"customer_id": ["db/required", "db/unique"]}}


def check_name(column: str, tag: str) -> str:
    return f"{tag.removeprefix('db/')}_{column}"


def column_check_results(conn: duckdb.DuckDBPyConnection, schema: str, table: str,
                         checks: dict[str, list[str]]) -> list[dg.AssetCheckResult]:
    """db/required and db/unique evaluated on the built table, as warnings; counts only, never a value."""
    if not checks:
        return []
    qualified = f"{ident(schema)}.{ident(table)}"
    columns = {r[0].lower() for r in conn.execute(f"DESCRIBE {qualified}").fetchall()}
    results = []
    for column, tags in checks.items():
        for tag in tags:
            name = check_name(column, tag)
            if column.lower() not in columns:
                results.append(dg.AssetCheckResult(check_name=name, passed=False, severity=dg.AssetCheckSeverity.WARN,
                                                   description=f"{schema}.{table} has no column {column}"))
                continue
            if tag == "db/required":
                bad = conn.execute(f"SELECT count(*) FROM {qualified} WHERE {ident(column)} IS NULL").fetchone()[0]
                what = f"{bad} row(s) have no {column}"
            else:
                bad = conn.execute(f"SELECT count(*) FROM (SELECT {ident(column)} FROM {qualified} WHERE "
                                   f"{ident(column)} IS NOT NULL GROUP BY 1 HAVING count(*) > 1)").fetchone()[0]
                what = f"{bad} {column} value(s) are shared by several rows"
            results.append(dg.AssetCheckResult(
                check_name=name, passed=bad == 0, severity=dg.AssetCheckSeverity.WARN,
                description=None if bad == 0 else f"{tag}: {what}", metadata={"violations": dg.MetadataValue.int(bad)}))
    return results


def build_database_assets(catalog: Catalog, db: Database) -> list[dg.AssetsDefinition]:
    assets = []
    if db.type == "customer_360":
        uc, merged = database_key(db.name, "unified_coalesced"), database_key(db.name, "merged_customers")
        assets += [
            _table_asset(catalog, db, "unified_coalesced", [STITCH_KEY], DESCRIPTIONS["unified_coalesced"],
                         _every_build(lambda conn: build.build_unified_coalesced(conn, db))),
            _table_asset(catalog, db, "merged_customers", [uc], DESCRIPTIONS["merged_customers"],
                         _every_build(lambda conn: build.build_merged_customers(conn, db)), STANDARD_CHECKS["merged_customers"]),
            _table_asset(catalog, db, "customer_360", [merged, uc] + [domain_key(f.name) for f in catalog.transaction_feeds],
                         DESCRIPTIONS["customer_360"], _every_build(lambda conn: build.build_customer_360(conn, catalog, db)),
                         STANDARD_CHECKS["customer_360"]),
        ]
    for table in db.tables:
        assets.append(_custom(catalog, db, table))
    return assets


def _every_build(build_table: Callable[[duckdb.DuckDBPyConnection], object]
                 ) -> Callable[[duckdb.DuckDBPyConnection, str], None]:
    """A Stitch table: rebuilt by every build run, whatever the refresh mode (Stitch ran just before it)."""
    def run(conn: duckdb.DuckDBPyConnection, mode: str) -> None:
        build_table(conn)

    return run


def _custom(catalog: Catalog, db: Database, table: DatabaseTable) -> dg.AssetsDefinition:
    reads = sorted(sql_tables(table.sql))
    time_dependent = is_time_dependent(table.sql)
    qualified = f"{db.name}.{table.name}"

    def run(conn: duckdb.DuckDBPyConnection, mode: str) -> dict:
        version = table_version(conn, table.sql, reads)
        why = needs_rebuild(conn, qualified, version, mode, time_dependent)
        if why:
            build.build_custom_table(conn, db, table)
            record_version(conn, qualified, version)
        return {"rebuilt": why is not None, "why": why or "unchanged", "refresh_mode": mode}

    deps = [table_key(t) for t in reads]
    return _table_asset(catalog, db, table.name, deps, table.description or f"Custom table: {table.sql.strip()}",
                        run, table.columns)
