"""The load step of a feed: assets `courier/<c>` → `feed/<feed>` → `domain/<feed>` materialized together.

One Dagster step runs the feed's couriers, the feed and the merge on one warehouse connection, so the
manifest and the staging table it passes along can never be interleaved with another run's, and the domain
table can only take a load that its own feed step accepted (the three assets cannot be run apart).
"""

import datetime as dt

import dagster as dg
import duckdb

from workflow_platform.automation.runtime import freshness_for
from workflow_platform.catalog.models import Catalog, Feed
from workflow_platform.couriers.assets import collect_files, courier_spec, files_check_spec
from workflow_platform.domain.load import DomainResult, DomainSchemaChanged, ensure_domain_table, merge_staged
from workflow_platform.feeds.assets import feed_spec, stage
from workflow_platform.layout import asset_group, domain_key, feed_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, catalog_schema, same_name_lineage, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource


def load_operation(catalog: Catalog, feed: Feed) -> str:
    """truncate_upsert when any of the feed's couriers asks for it (a truncate always runs first)."""
    operations = {c.load for c in catalog.couriers_of_feed(feed.name) if c.load != "land_only"}
    return "truncate_upsert" if "truncate_upsert" in operations else "upsert"


def domain_spec(catalog: Catalog, feed: Feed) -> dg.AssetSpec:
    operation = load_operation(catalog, feed)
    return dg.AssetSpec(
        key=domain_key(feed.name),
        deps=[feed_key(feed.name)],
        group_name=asset_group(catalog, domain_key(feed.name)),
        description=f"Domain table domain.{feed.name} ({operation} on {', '.join(feed.primary_key)}). "
        + (feed.description or ""),
        kinds={"duckdb", "table"},
        metadata={"load_operation": operation, "dagster/table_name": f"domain.{feed.name}",
                  "dagster/column_schema": catalog_schema(feed),
                  "dagster/column_lineage": same_name_lineage(feed, feed_key(feed.name))},
        freshness_policy=freshness_for(catalog, [c.name for c in catalog.couriers_of_feed(feed.name)]),
        **owners_and_tags(catalog, domain_key(feed.name), feed=feed.name),
    )


def merge(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog, feed: Feed,
          files_read: int) -> dg.MaterializeResult:
    clock = Stopwatch()
    operation = load_operation(catalog, feed)
    if files_read == 0:  # nothing arrived: an upsert has nothing to add and a truncate must not empty the table
        context.log.info(f"domain.{feed.name}: no file in this load; table unchanged")
        try:
            ensure_domain_table(conn, feed)
        except DomainSchemaChanged as exc:
            raise dg.Failure(description=str(exc)) from exc
        result = None
    else:
        try:
            result = merge_staged(conn, feed, operation, dt.datetime.now(dt.UTC).replace(tzinfo=None))
        except DomainSchemaChanged as exc:
            raise dg.Failure(description=str(exc)) from exc
        context.log.info(f"domain.{feed.name} {operation}: {result.inserted} inserted, {result.updated} updated, "
                         f"{result.rows_after} rows now")
    result = result or DomainResult(operation, 0, 0, 0, 0, None)
    return dg.MaterializeResult(asset_key=domain_key(feed.name), metadata={
        **table_metadata(conn, "domain", feed.name),
        "rows_staged": dg.MetadataValue.int(result.staged),
        "rows_inserted": dg.MetadataValue.int(result.inserted),
        "rows_updated": dg.MetadataValue.int(result.updated),
        "rows_not_applied": dg.MetadataValue.int(result.unchanged),
        "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
    })


def build_load_asset(catalog: Catalog, feed: Feed) -> dg.AssetsDefinition:
    couriers = [c for c in catalog.couriers_of_feed(feed.name) if c.load != "land_only"]
    specs = [courier_spec(catalog, c) for c in couriers] + [feed_spec(catalog, feed, couriers),
                                                            domain_spec(catalog, feed)]

    checks = [files_check_spec(c) for c in couriers]

    @dg.multi_asset(specs=specs, check_specs=checks, name=f"load__{feed.name}", pool=WAREHOUSE_POOL, can_subset=False)
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.get_connection() as conn:
            for courier in couriers:
                yield collect_files(context, conn, catalog, courier)
            staged, result = stage(context, conn, catalog, feed, couriers)
            yield staged
            yield merge(context, conn, catalog, feed, len(result.per_file))

    return _load
