"""The load step as Dagster assets: for each loaded feed one multi-asset, `courier/<c>` → `feed/<feed>` →
`domain/<feed>` materialized together by one step (ingest/step.py), and one asset for each `land_only` courier.

The specs are plain (key, deps, kinds, metadata); presentation.py adds groups, owners, tags and freshness.
"""

import dagster as dg

from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.catalog.models import Catalog, Courier, Feed
from workflow_platform.ingest.step import land_files, load_feed, load_operation
from workflow_platform.keys import ACCEPTED_CHECK, FILES_CHECK, courier_key, domain_key, feed_key
from workflow_platform.metadata import catalog_schema, same_name_lineage
from workflow_platform.resources import WarehouseResource, load_pool
from workflow_platform.retries import TRANSIENT_RETRY


def build_load_asset(catalog: Catalog, feed: Feed) -> dg.AssetsDefinition:
    couriers = [c for c in catalog.couriers_of_feed(feed.name) if c.load != "land_only"]
    specs = [courier_spec(catalog, c) for c in couriers] + [feed_spec(feed, couriers), domain_spec(catalog, feed)]
    checks = [files_check_spec(c) for c in couriers] + [accepted_check_spec(c) for c in couriers]

    @dg.multi_asset(specs=specs, check_specs=checks, name=f"load__{feed.name}", pool=load_pool(feed.name), can_subset=False,
                    retry_policy=TRANSIENT_RETRY if is_remote(catalog, couriers) else None)
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, alert_channels: AlertChannelsResource):
        with warehouse.get_connection() as conn:
            yield from load_feed(context, conn, catalog, feed, couriers, alert_channels)

    return _load


def build_land_only_asset(catalog: Catalog, courier: Courier) -> dg.AssetsDefinition:
    """A `land_only` courier: its files are found and checked, not loaded."""

    @dg.multi_asset(specs=[courier_spec(catalog, courier)],
                    check_specs=[files_check_spec(courier), accepted_check_spec(courier)],
                    name=f"courier__{courier.name}", pool=load_pool(courier.feed),
                    retry_policy=TRANSIENT_RETRY if is_remote(catalog, [courier]) else None)
    def _land(context: dg.AssetExecutionContext, warehouse: WarehouseResource, alert_channels: AlertChannelsResource):
        with warehouse.get_connection() as conn:
            yield from land_files(context, conn, catalog, courier, alert_channels)

    return _land


def courier_spec(catalog: Catalog, courier: Courier) -> dg.AssetSpec:
    location = catalog.location(courier.location)
    return dg.AssetSpec(
        key=courier_key(courier.name),
        description=courier.description
        or f"Files matching {courier.pattern} in location {location.name!r}, for feed {courier.feed!r}.",
        kinds={"duckdb", _protocol(catalog, courier)},
        metadata={"pattern": courier.pattern, "location": location.url, "optional": courier.optional,
                  "load": courier.load},
        skippable=True,  # a run that leaves the courier out (skip_couriers) does not materialize it
    )


def feed_spec(feed: Feed, couriers: list[Courier]) -> dg.AssetSpec:
    tagged = ", ".join(f"{c.name} ({'/'.join(c.tag)})" for c in feed.columns if c.tag)
    return dg.AssetSpec(
        key=feed_key(feed.name),
        deps=[courier_key(c.name) for c in couriers],
        description=(feed.description or f"Feed {feed.name!r} from source {feed.source!r}.")
        + f" Typed and standardized; semantic tags: {tagged or 'none'}.",
        kinds={"duckdb", "sql"},
        metadata={"source": feed.source, "error_threshold_pct": feed.error_threshold,
                  "primary_key": ", ".join(feed.primary_key), "dagster/column_schema": catalog_schema(feed)},
    )


def domain_spec(catalog: Catalog, feed: Feed) -> dg.AssetSpec:
    operation = load_operation(catalog, feed)
    return dg.AssetSpec(
        key=domain_key(feed.name),
        deps=[feed_key(feed.name)],
        description=f"Domain table {feed.table} ({operation} on {', '.join(feed.primary_key)}). "
        + (feed.description or ""),
        kinds={"duckdb", "table"},
        metadata={"load_operation": operation, "dagster/table_name": feed.table,
                  "dagster/column_schema": catalog_schema(feed),
                  "dagster/column_lineage": same_name_lineage(feed, feed_key(feed.name))},
    )


def accepted_check_spec(courier: Courier) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(ACCEPTED_CHECK, asset=courier_key(courier.name),
                             description="No file of the run was quarantined or rejected over the error threshold "
                                         "(evaluated by the load step; audit.files has every file's status).")


def files_check_spec(courier: Courier) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(FILES_CHECK, asset=courier_key(courier.name),
                             description="Every day of the run's window has a file matching the pattern (evaluated by "
                                         "the load step and by the courier group's schedule sensor).")


def is_remote(catalog: Catalog, couriers: list[Courier]) -> bool:
    """Whether any of the couriers lands from S3 or SFTP (its step then retries transient I/O errors)."""
    return any(_protocol(catalog, c) != "local" for c in couriers)


def _protocol(catalog: Catalog, courier: Courier) -> str:
    url = catalog.location(courier.location).url
    return url.split("://")[0] if "://" in url else "local"
