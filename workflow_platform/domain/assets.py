"""The load step of a feed: assets `courier/<c>` → `feed/<feed>` → `domain/<feed>` materialized together.

One Dagster step runs the feed's couriers, the feed and the merge on one warehouse connection, so the files it
registers and the staging table it passes along can never be interleaved with another run's, and the domain
table can only take a load that its own feed step accepted (the three assets cannot be run apart). The merge,
the rejects and the file manifest (audit.files) commit together: each file loads exactly once.
"""

import datetime as dt

import dagster as dg
import duckdb

from workflow_platform.alerts.channels import AlertChannelsResource
from workflow_platform.automation.runtime import freshness_for
from workflow_platform.catalog.models import Catalog, Courier, Feed
from workflow_platform.couriers.assets import (
    CourierFiles,
    accepted_check_spec,
    alert_refused,
    collect_files,
    courier_spec,
    files_check_spec,
    group_settings,
    is_remote,
    quarantine,
    with_acceptance,
)
from workflow_platform.couriers.manifest import FileEntry, record
from workflow_platform.domain.load import DomainResult, DomainSchemaChanged, ensure_domain_table, merge_staged
from workflow_platform.feeds.assets import feed_spec, stage
from workflow_platform.feeds.rejects import commit_rejects
from workflow_platform.layout import asset_group, domain_key, feed_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, catalog_schema, pii_columns, same_name_lineage, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.retries import TRANSIENT_RETRY
from workflow_platform.sql import transaction
from workflow_platform.tags import SKIP_MISSING_TAG


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
          loaded_files: int) -> DomainResult | None:
    """Merge the staged rows into domain.<feed> (inside the caller's transaction); None when no file loads."""
    operation = load_operation(catalog, feed)
    try:
        if loaded_files == 0:  # an upsert has nothing to add and a truncate must not empty the table
            context.log.info(f"domain.{feed.name}: no file in this load; table unchanged")
            ensure_domain_table(conn, feed)
            return None
        result = merge_staged(conn, feed, operation, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    except DomainSchemaChanged as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    context.log.info(f"domain.{feed.name} {operation}: {result.inserted} inserted, {result.updated} updated, "
                     f"{result.rows_after} rows now")
    return result


def domain_materialization(conn: duckdb.DuckDBPyConnection, catalog: Catalog, feed: Feed, result: DomainResult | None,
                           clock: Stopwatch) -> dg.MaterializeResult:
    result = result or DomainResult(load_operation(catalog, feed), 0, 0, 0, 0, None)
    return dg.MaterializeResult(asset_key=domain_key(feed.name), metadata={
        **table_metadata(conn, "domain", feed.name, pii=pii_columns(catalog)),
        "rows_staged": dg.MetadataValue.int(result.staged),
        "rows_inserted": dg.MetadataValue.int(result.inserted),
        "rows_updated": dg.MetadataValue.int(result.updated),
        "rows_not_applied": dg.MetadataValue.int(result.unchanged),
        "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
    })


def load_feed(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog, feed: Feed,
              couriers: list[Courier], channels: AlertChannelsResource):
    """The load step: collect each courier's files, stage them, then commit the merge into the domain table, the
    load's rejects and its audit.files rows as ONE transaction (a crash leaves all old or all new).

    Refused files (quarantined, or rejected over the error threshold) do not stop the other files; they raise an
    alert and fail the courier's `files_accepted` check. The step fails instead, before anything of the load
    commits, when the courier's group setting is `stop_when_missing` or a required courier is left with no file
    (see `_stopping`)."""
    clock = Stopwatch()
    operation = load_operation(catalog, feed)
    found = [collect_files(context, conn, catalog, c, skip_duplicates=operation == "upsert", channels=channels)
             for c in couriers]
    staged, result = stage(context, conn, catalog, feed, couriers)
    by_courier = {f.courier.name: f for f in found}
    refused: list[FileEntry] = [e for f in found for e in f.quarantined]
    rejected_now: list[FileEntry] = []
    for outcome in result.files:
        files = by_courier[outcome.courier]
        entry = files.entries[outcome.file]
        entry.rows_read, entry.rows_rejected = outcome.rows, outcome.rejected
        entry.rows_loaded = outcome.rows - outcome.rejected if outcome.status == "loaded" else 0
        entry.values_nulled = outcome.nulled
        if outcome.status == "quarantined":
            landed = next(f for f in files.to_load if f.relative == outcome.file)
            files.quarantined.append(quarantine(context, conn, catalog.location(files.courier.location), landed,
                                                files.entries.pop(outcome.file), outcome.reason))
            refused.append(files.quarantined[-1])
        elif outcome.status == "rejected":
            entry.status, entry.reason = "rejected", outcome.reason
            context.log.error(f"courier {outcome.courier}: {outcome.reason}")
            rejected_now.append(entry)
    refused += rejected_now
    stopping = _stopping(context, catalog, found, refused)
    if stopping:
        with transaction(conn):  # the refusals are recorded; nothing of the data loads
            commit_rejects(conn, context.run.run_id, with_values=False)
            record(conn, rejected_now, context.run.run_id)
        alert_refused(context, channels, catalog, refused, stopped=True)
        raise dg.Failure(description=f"feed {feed.name!r}: nothing loaded: " + "; ".join(stopping) + ":\n  "
                         + "\n  ".join(e.reason for e in refused), allow_retries=False)
    loaded = [e for f in found for e in f.entries.values() if e.status == "loaded"]
    with transaction(conn):
        domain = merge(context, conn, catalog, feed, len(loaded))
        commit_rejects(conn, context.run.run_id)
        record(conn, loaded + rejected_now, context.run.run_id)
        record(conn, [e for f in found for e in f.skipped], context.run.run_id, once=True)
    if refused:
        alert_refused(context, channels, catalog, refused, stopped=False)
    for files in found:
        yield with_acceptance(files)
    yield staged
    yield domain_materialization(conn, catalog, feed, domain, clock)


def _stopping(context: dg.AssetExecutionContext, catalog: Catalog, found: list[CourierFiles],
              refused: list[FileEntry]) -> list[str]:
    """Why a refused file stops the load: its courier's group says `stop_when_missing`, or a required courier
    (not `optional`, the run not skipping missing files) has nothing left to load, as if its file were missing."""
    skip_missing = context.run.tags.get(SKIP_MISSING_TAG) == "true"
    reasons = []
    for files in found:
        name = files.courier.name
        if not any(e.courier == name for e in refused):
            continue
        if group_settings(catalog, files.courier).stop_when_missing:
            reasons.append(f"courier {name!r} stops when a file is refused (stop_when_missing)")
        elif not (files.courier.optional or skip_missing or files.already_loaded or files.skipped
                  or any(e.status == "loaded" for e in files.entries.values())):
            reasons.append(f"required courier {name!r} has no loadable file left (optional: true, or a run that "
                           "skips missing files, loads without it)")
    return reasons


def build_load_asset(catalog: Catalog, feed: Feed) -> dg.AssetsDefinition:
    couriers = [c for c in catalog.couriers_of_feed(feed.name) if c.load != "land_only"]
    specs = [courier_spec(catalog, c) for c in couriers] + [feed_spec(catalog, feed, couriers),
                                                            domain_spec(catalog, feed)]
    checks = [files_check_spec(c) for c in couriers] + [accepted_check_spec(c) for c in couriers]

    @dg.multi_asset(specs=specs, check_specs=checks, name=f"load__{feed.name}", pool=WAREHOUSE_POOL, can_subset=False,
                    retry_policy=TRANSIENT_RETRY if is_remote(catalog, couriers) else None)
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, alert_channels: AlertChannelsResource):
        with warehouse.get_connection() as conn:
            yield from load_feed(context, conn, catalog, feed, couriers, alert_channels)

    return _load
