"""The load step of a feed: its couriers' files found and checked (ingest/collect.py), typed and standardized
into staging (ingest/feeds), then merged into the domain table (ingest/domain).

One Dagster step runs the feed's couriers, the feed and the merge on one warehouse connection, so the files it
registers and the staging table it passes along can never be interleaved with another run's, and the domain
table can only take a load that its own feed step accepted (the three assets cannot be run apart). The merge,
the rejects and the file manifest (audit.files) commit together: each file loads exactly once.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from workflow_platform.alerts.model import run_alert
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.catalog.models import Catalog, Courier, Feed
from workflow_platform.ingest.audit import REJECTS_TABLE, VALUE_PROBLEMS_TABLE, FileEntry, commit_rejects, record
from workflow_platform.ingest.collect import CourierFiles, collect_files, group_settings, quarantine_unread
from workflow_platform.ingest.couriers.landing import attach_location
from workflow_platform.ingest.domain.merge import DomainResult, DomainSchemaChanged, ensure_domain_table, merge_staged
from workflow_platform.ingest.feeds.typing import FeedResult, stage_feed
from workflow_platform.ingest.files.reading import UnreadableFile
from workflow_platform.ingest.staging import staging_name
from workflow_platform.keys import ACCEPTED_CHECK, courier_key, domain_key, feed_key
from workflow_platform.metadata import Stopwatch, markdown_table, pii_columns, table_metadata
from workflow_platform.sql import committed
from workflow_platform.tags import ERROR_THRESHOLD_TAG, SKIP_MISSING_TAG


def land_files(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog,
               courier: Courier, channels: AlertChannelsResource):
    """The step of a `land_only` courier: its files found and checked, refused ones alerted, nothing loaded."""
    found = collect_files(context, conn, catalog, courier, channels=channels)
    if found.quarantined:
        alert_refused(context, channels, catalog, found.quarantined, stopped=False)
    yield from with_acceptance(found)


def load_operation(catalog: Catalog, feed: Feed) -> str:
    """truncate_upsert when any of the feed's couriers asks for it (a truncate always runs first)."""
    operations = {c.load for c in catalog.couriers_of_feed(feed.name) if c.load != "land_only"}
    return "truncate_upsert" if "truncate_upsert" in operations else "upsert"


def merge(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog, feed: Feed,
          loaded_files: int) -> DomainResult | None:
    """Merge the staged rows into domain.<feed> (inside the caller's transaction); None when no file loads."""
    operation = load_operation(catalog, feed)
    try:
        if loaded_files == 0:  # an upsert has nothing to add and a truncate must not empty the table
            context.log.info(f"{feed.table}: no file in this load; table unchanged")
            ensure_domain_table(conn, feed)
            return None
        result = merge_staged(conn, feed, operation, dt.datetime.now(dt.UTC).replace(tzinfo=None))
    except DomainSchemaChanged as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    context.log.info(f"{feed.table} {operation}: {result.inserted} inserted, {result.updated} updated, "
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
        if outcome.status == "quarantined":  # the feed could not read it to the end
            refused.append(quarantine_unread(context, conn, catalog, files, outcome.file, outcome.reason))
        elif (entry := files.read(outcome)).status == "rejected":
            context.log.error(f"courier {outcome.courier}: {outcome.reason}")
            rejected_now.append(entry)
    refused += rejected_now
    stopping = _stopping(context, catalog, found, refused)
    if stopping:
        def refusals() -> None:  # the refusals are recorded; nothing of the data loads
            commit_rejects(conn, context.run.run_id, with_values=False)
            record(conn, rejected_now, context.run.run_id)

        committed(conn, refusals)
        alert_refused(context, channels, catalog, refused, stopped=True)
        raise dg.Failure(description=f"feed {feed.name!r}: nothing loaded: " + "; ".join(stopping) + ":\n  "
                         + "\n  ".join(e.reason for e in refused), allow_retries=False)
    loaded = [e for f in found for e in f.entries.values() if e.status == "loaded"]

    def load() -> DomainResult | None:
        domain = merge(context, conn, catalog, feed, len(loaded))
        commit_rejects(conn, context.run.run_id)
        record(conn, loaded + rejected_now, context.run.run_id)
        record(conn, [e for f in found for e in f.skipped], context.run.run_id, once=True)
        return domain

    domain = committed(conn, load)  # on a DuckLake, a commit that conflicted with another feed's load runs again
    if refused:
        alert_refused(context, channels, catalog, refused, stopped=False)
    for files in found:
        yield from with_acceptance(files)
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


def stage(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog, feed: Feed,
          couriers: list[Courier]) -> tuple[dg.MaterializeResult, FeedResult]:
    """Read the couriers' files into staging; the result says which files load, are rejected or quarantined."""
    clock = Stopwatch()
    override = context.run.tags.get(ERROR_THRESHOLD_TAG)
    for courier in couriers:
        attach_location(conn, catalog.location(courier.location))
    try:
        result = stage_feed(conn, feed, couriers, catalog.stitch, float(override) if override else None)
    except UnreadableFile as exc:
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


def with_acceptance(files: CourierFiles) -> list[dg.MaterializeResult | dg.AssetCheckResult]:
    """The courier's materialization plus its `files_accepted` check (fails when a file was refused); for a
    courier the run leaves out, its two checks only (the asset shows as not materialized by the run)."""
    refused = files.quarantined + [e for e in files.entries.values() if e.status == "rejected"]
    check = dg.AssetCheckResult(
        asset_key=courier_key(files.courier.name), check_name=ACCEPTED_CHECK, passed=not refused,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"refused_files": dg.MetadataValue.json([
            {"file": e.file, "status": e.status, "reason": e.reason,
             "moved_to": e.same_as if e.status == "quarantined" else ""} for e in refused])})
    result = files.result
    if files.left_out:
        return [*(result.check_results or []), check]
    return [dg.MaterializeResult(asset_key=result.asset_key, metadata=result.metadata,
                                 check_results=[*(result.check_results or []), check])]


def alert_refused(context: dg.AssetExecutionContext, channels: AlertChannelsResource, catalog: Catalog,
                   refused: list[FileEntry], stopped: bool) -> None:
    """One alert for the files this load refused: file names and reasons (never row values)."""
    lines = "; ".join(f"{e.file} ({e.status}{' to ' + e.same_as if e.status == 'quarantined' else ''}): "
                      f"{e.reason.removeprefix(e.file + ': ')[:300]}" for e in refused)
    alert = run_alert(
        context.run, "file_refused", "error" if stopped or any(e.status == "quarantined" for e in refused)
        else "warning",
        cause=f"{len(refused)} file(s) refused" + (", the load stopped" if stopped else ", the other files loaded")
        + f": {lines}",
        action="fix the file at its source and deliver it again (quarantined files sit beside a .reason.txt; "
               "rejected rows are in audit.rejects; a run with a higher error threshold loads a rejected file)",
    )
    channels.send(alert, catalog.alerts, context.log)
