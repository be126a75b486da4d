"""Dagster assets `feed/<name>`: type and standardize landed rows into `staging.<feed>`."""


import dagster as dg

from workflow_platform.automation.window import ERROR_THRESHOLD_TAG
from workflow_platform.catalog.models import Catalog, Feed
from workflow_platform.couriers.ingest import CourierError
from workflow_platform.couriers.landing import remote_filesystems
from workflow_platform.feeds.rejects import REJECTS_TABLE
from workflow_platform.feeds.typing import FeedThresholdExceeded, stage_feed
from workflow_platform.layout import asset_group, courier_key, feed_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, markdown_table, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource


def build_feed_asset(catalog: Catalog, feed: Feed) -> dg.AssetsDefinition:
    couriers = [c for c in catalog.couriers if c.feed == feed.name and c.load != "land_only"]
    tagged = ", ".join(f"{c.name} ({'/'.join(c.tag)})" for c in feed.columns if c.tag)

    @dg.asset(
        key=feed_key(feed.name),
        deps=[courier_key(c.name) for c in couriers],
        group_name=asset_group(catalog, feed_key(feed.name)),
        description=(feed.description or f"Feed {feed.name!r} from source {feed.source!r}.")
        + f" Typed and standardized; semantic tags: {tagged or 'none'}.",
        kinds={"duckdb", "sql"},
        pool=WAREHOUSE_POOL,
        metadata={"source": feed.source, "error_threshold_pct": feed.error_threshold,
                  "primary_key": ", ".join(feed.primary_key)},
        **owners_and_tags(catalog, feed=feed.name),
    )
    def _feed(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        override = context.run.tags.get(ERROR_THRESHOLD_TAG)
        with warehouse.get_connection() as conn:
            for courier in couriers:
                for fs in remote_filesystems(catalog.location(courier.location)):
                    conn.register_filesystem(fs)
            # no enclosing transaction: staging is scratch, rebuilt by every run, and its rowids must be the
            # committed ones (file order) for line numbers; the domain table is only touched by the next step
            try:
                result = stage_feed(conn, feed, couriers, catalog.stitch, float(override) if override else None)
            except FeedThresholdExceeded as exc:
                raise dg.Failure(description=str(exc)) from exc
            except CourierError as exc:
                raise dg.Failure(description=f"feed {feed.name!r}: {exc}") from exc
            metadata = table_metadata(conn, "staging", feed.name)
        context.log.info(f"{result.rows_in} rows in, {result.rows_staged} staged, {result.rows_rejected} rejected")
        return dg.MaterializeResult(metadata={
            **metadata,
            "rows_in": dg.MetadataValue.int(result.rows_in),
            "rows_staged": dg.MetadataValue.int(result.rows_staged),
            "rows_rejected": dg.MetadataValue.int(result.rows_rejected),
            "rejects_table": REJECTS_TABLE,
            "files": markdown_table(result.per_file),
            "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
        })

    return _feed



