"""Dagster assets `database/<db>/<table>`: the Stitch tables of a customer_360 database and custom SQL tables."""


from collections.abc import Callable

import dagster as dg

from workflow_platform.catalog.models import Catalog, Database, DatabaseTable
from workflow_platform.catalog.validate import sql_tables
from workflow_platform.databases import build
from workflow_platform.keys import STITCH_KEY, database_key, domain_key, table_key
from workflow_platform.metadata import Stopwatch, pii_columns, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.segments.build import SegmentSqlError
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
                 run: Callable) -> dg.AssetsDefinition:
    @dg.asset(
        key=database_key(db.name, table),
        deps=deps,
        description=description,
        kinds={"duckdb", "table"},
        pool=WAREHOUSE_POOL,
        tags={DATABASE_TAG: db.name},
        metadata={"dagster/table_name": f"{db.name}.{table}"},
    )
    def _build(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        with warehouse.get_connection() as conn:
            try:
                run(conn)
            except SegmentSqlError as exc:  # past the time or row limit of catalog SQL: say which, not a traceback
                raise dg.Failure(description=str(exc)) from exc
            metadata = table_metadata(conn, db.name, table, pii=pii_columns(catalog))
        return dg.MaterializeResult(metadata={**metadata, "elapsed_seconds": dg.MetadataValue.float(clock.seconds)})

    return _build


def build_database_assets(catalog: Catalog, db: Database) -> list[dg.AssetsDefinition]:
    assets = []
    if db.type == "customer_360":
        uc, merged = database_key(db.name, "unified_coalesced"), database_key(db.name, "merged_customers")
        assets += [
            _table_asset(catalog, db, "unified_coalesced", [STITCH_KEY], DESCRIPTIONS["unified_coalesced"],
                         lambda conn: build.build_unified_coalesced(conn, db)),
            _table_asset(catalog, db, "merged_customers", [uc], DESCRIPTIONS["merged_customers"],
                         lambda conn: build.build_merged_customers(conn, db)),
            _table_asset(catalog, db, "customer_360", [merged, uc] + [domain_key(f.name) for f in catalog.transaction_feeds],
                         DESCRIPTIONS["customer_360"], lambda conn: build.build_customer_360(conn, catalog, db)),
        ]
    for table in db.tables:
        assets.append(_custom(catalog, db, table))
    return assets


def _custom(catalog: Catalog, db: Database, table: DatabaseTable) -> dg.AssetsDefinition:
    deps = [table_key(t) for t in sorted(sql_tables(table.sql))]
    return _table_asset(catalog, db, table.name, deps, table.description or f"Custom table: {table.sql.strip()}",
                        lambda conn: build.build_custom_table(conn, db, table))
