"""Assets `feed/<name>`: the courier files typed and standardized into the load step's staging table (run in
the feed's load step, domain/assets.py)."""

import dagster as dg
import duckdb

from workflow_platform.automation.runtime import freshness_for
from workflow_platform.automation.window import ERROR_THRESHOLD_TAG
from workflow_platform.catalog.models import Catalog, Courier, Feed
from workflow_platform.couriers.ingest import CourierError
from workflow_platform.couriers.landing import attach_location
from workflow_platform.feeds.rejects import REJECTS_TABLE, VALUE_PROBLEMS_TABLE
from workflow_platform.feeds.typing import FeedResult, stage_feed, staging_name
from workflow_platform.layout import asset_group, courier_key, feed_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, catalog_schema, markdown_table, pii_columns, table_metadata


def feed_spec(catalog: Catalog, feed: Feed, couriers: list[Courier]) -> dg.AssetSpec:
    tagged = ", ".join(f"{c.name} ({'/'.join(c.tag)})" for c in feed.columns if c.tag)
    return dg.AssetSpec(
        key=feed_key(feed.name),
        deps=[courier_key(c.name) for c in couriers],
        group_name=asset_group(catalog, feed_key(feed.name)),
        description=(feed.description or f"Feed {feed.name!r} from source {feed.source!r}.")
        + f" Typed and standardized; semantic tags: {tagged or 'none'}.",
        kinds={"duckdb", "sql"},
        metadata={"source": feed.source, "error_threshold_pct": feed.error_threshold,
                  "primary_key": ", ".join(feed.primary_key), "dagster/column_schema": catalog_schema(feed)},
        freshness_policy=freshness_for(catalog, [c.name for c in couriers]),
        **owners_and_tags(catalog, feed_key(feed.name), feed=feed.name),
    )


def stage(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog, feed: Feed,
          couriers: list[Courier]) -> tuple[dg.MaterializeResult, FeedResult]:
    """Read the couriers' files into staging; the result says which files load, are rejected or quarantined."""
    clock = Stopwatch()
    override = context.run.tags.get(ERROR_THRESHOLD_TAG)
    for courier in couriers:
        attach_location(conn, catalog.location(courier.location))
    try:
        result = stage_feed(conn, feed, couriers, catalog.stitch, float(override) if override else None)
    except CourierError as exc:
        raise dg.Failure(description=f"feed {feed.name!r}: {exc}", allow_retries=False) from exc
    context.log.info(f"feed {feed.name}: {result.rows_in} rows in, {result.rows_staged} staged, "
                     f"{result.rows_rejected} rejected, {result.values_nulled} values loaded as NULL "
                     f"({VALUE_PROBLEMS_TABLE})")
    return dg.MaterializeResult(asset_key=feed_key(feed.name), metadata={
        **table_metadata(conn, "main", staging_name(feed), temporary=True, pii=pii_columns(catalog)),
        "rows_in": dg.MetadataValue.int(result.rows_in),
        "rows_staged": dg.MetadataValue.int(result.rows_staged),
        "rows_rejected": dg.MetadataValue.int(result.rows_rejected),
        "rejects_table": REJECTS_TABLE,
        "values_nulled": dg.MetadataValue.int(result.values_nulled),
        "value_problems_table": VALUE_PROBLEMS_TABLE,
        "files_refused": dg.MetadataValue.int(len(result.refused)),
        "files": markdown_table([{"file": f.file, "rows": f.rows, "rejected": f.rejected, "values_nulled": f.nulled,
                                  "status": f.status} for f in result.files]),
        "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
    }), result
