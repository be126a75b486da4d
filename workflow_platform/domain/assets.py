"""Dagster assets `domain/<feed>`: merge the staged load into the domain table."""


import datetime as dt

import dagster as dg

from workflow_platform.catalog.models import Catalog, Feed
from workflow_platform.domain.load import DomainSchemaChanged, merge_staged
from workflow_platform.layout import asset_group, domain_key, feed_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource


def build_domain_asset(catalog: Catalog, feed: Feed) -> dg.AssetsDefinition:
    operations = {c.load for c in catalog.couriers if c.feed == feed.name and c.load != "land_only"}
    operation = "truncate_upsert" if "truncate_upsert" in operations else "upsert"

    @dg.asset(
        key=domain_key(feed.name),
        deps=[feed_key(feed.name)],
        group_name=asset_group(catalog, domain_key(feed.name)),
        description=f"Domain table domain.{feed.name} ({operation} on {', '.join(feed.primary_key)}). "
        + (feed.description or ""),
        kinds={"duckdb", "table"},
        pool=WAREHOUSE_POOL,
        metadata={"load_operation": operation, "dagster/table_name": f"domain.{feed.name}"},
        **owners_and_tags(catalog, feed=feed.name),
    )
    def _domain(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        with warehouse.get_connection() as conn:
            try:
                result = merge_staged(conn, feed, operation, dt.datetime.now(dt.UTC).replace(tzinfo=None))
            except DomainSchemaChanged as exc:
                raise dg.Failure(description=str(exc)) from exc
            metadata = table_metadata(conn, "domain", feed.name)
        context.log.info(f"{result.operation}: {result.inserted} inserted, {result.updated} updated, "
                         f"{result.rows_after} rows now")
        return dg.MaterializeResult(metadata={
            **metadata,
            "rows_staged": dg.MetadataValue.int(result.staged),
            "rows_inserted": dg.MetadataValue.int(result.inserted),
            "rows_updated": dg.MetadataValue.int(result.updated),
            "rows_not_applied": dg.MetadataValue.int(result.unchanged),
            "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
        })

    return _domain
