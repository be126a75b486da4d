"""Assets `courier/<name>`: find the run's files, decide each (load, duplicate, quarantine), register the ones to
load in `raw.<courier>__files`.

A courier that loads a feed runs in that feed's load step (domain/assets.py); a `land_only` courier is an
asset of its own.
"""

from dataclasses import dataclass, field

import dagster as dg
import duckdb

from workflow_platform.alerts.channels import AlertChannelsResource
from workflow_platform.alerts.dispatch import deliver
from workflow_platform.alerts.model import Alert
from workflow_platform.alerts.sensors import audience_of
from workflow_platform.automation.runtime import freshness_for
from workflow_platform.automation.window import (
    ERROR_THRESHOLD_TAG,
    SCHEDULED_AT_TAG,
    SKIP_COURIERS_TAG,
    SKIP_MISSING_TAG,
    run_days,
)
from workflow_platform.catalog.models import Catalog, Courier, GroupCourier, Location
from workflow_platform.couriers.ingest import CourierError, check_file, register_files
from workflow_platform.couriers.landing import LandedFile, attach_location, find_files
from workflow_platform.couriers.manifest import (
    FileEntry,
    earlier,
    ensure_manifest,
    last_loaded_columns,
    record,
    sha256_of,
)
from workflow_platform.couriers.patterns import FilePattern
from workflow_platform.couriers.quarantine import quarantine_file
from workflow_platform.layout import asset_group, courier_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, markdown_table
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.retries import TRANSIENT_RETRY, fail_fast, is_permanent
from workflow_platform.sql import transaction
from workflow_platform.storage import MissingSecret


def _protocol(catalog: Catalog, courier: Courier) -> str:
    url = catalog.location(courier.location).url
    return url.split("://")[0] if "://" in url else "local"


FILES_CHECK = "expected_files_present"
ACCEPTED_CHECK = "files_accepted"


def accepted_check_spec(courier: Courier) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(ACCEPTED_CHECK, asset=courier_key(courier.name),
                             description="No file of the run was quarantined or rejected over the error threshold "
                                         "(evaluated by the load step; audit.files has every file's status).")


def files_check_spec(courier: Courier) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(FILES_CHECK, asset=courier_key(courier.name),
                             description="Every day of the run's window has a file matching the pattern (evaluated by "
                                         "the load step and by the courier group's schedule sensor).")


def courier_spec(catalog: Catalog, courier: Courier) -> dg.AssetSpec:
    location = catalog.location(courier.location)
    return dg.AssetSpec(
        key=courier_key(courier.name),
        group_name=asset_group(catalog, courier_key(courier.name)),
        description=courier.description
        or f"Files matching {courier.pattern} in location {location.name!r}, for feed {courier.feed!r}.",
        kinds={"duckdb", _protocol(catalog, courier)},
        metadata={"pattern": courier.pattern, "location": location.url, "optional": courier.optional,
                  "load": courier.load},
        freshness_policy=freshness_for(catalog, [courier.name]),
        **owners_and_tags(catalog, courier_key(courier.name), courier=courier.name),
    )


@dataclass
class CourierFiles:
    """What the courier step decided for the files of one run."""

    courier: Courier
    to_load: list[LandedFile] = field(default_factory=list)
    entries: dict[str, FileEntry] = field(default_factory=dict)  # manifest rows of to_load, by relative path
    already_loaded: list[str] = field(default_factory=list)  # files loaded by an earlier run, unchanged since
    skipped: list[FileEntry] = field(default_factory=list)  # duplicates and earlier rejected files
    quarantined: list[FileEntry] = field(default_factory=list)  # moved and recorded already
    new_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns the feed does not declare
    result: dg.MaterializeResult | None = None


def collect_files(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog,
                  courier: Courier, skip_duplicates: bool = True,
                  channels: AlertChannelsResource | None = None) -> CourierFiles:
    """Find the files of the run's window, decide each one, and register the ones to load.

    Each file is hashed (sha256) and checked: identical content loaded before is a duplicate (0 rows; with
    `skip_duplicates`); content rejected before waits for a run with a higher error threshold; a file with a
    whole-file problem moves to quarantine (recorded in audit.files at once). A missing required file raises
    dg.Failure naming the pattern and the day (unless the run skips missing files); a missing optional file is a
    warning, and so is a file gone since its scheduled run was launched, unless the group stops when files are
    missing (alerted on `channels`)."""
    clock = Stopwatch()
    location = catalog.location(courier.location)
    feed = catalog.feed(courier.feed)
    pattern = FilePattern.parse(courier.pattern)
    tags = context.run.tags
    found = CourierFiles(courier)
    if courier.name in {c.strip() for c in tags.get(SKIP_COURIERS_TAG, "").split(",")}:
        context.log.warning(f"courier {courier.name}: skipped for this run ({SKIP_COURIERS_TAG})")
        with transaction(conn):
            register_files(conn, courier, [])
        skipped = dg.AssetCheckResult(asset_key=courier_key(courier.name), check_name=FILES_CHECK, passed=True,
                                      metadata={"skipped": True})
        found.result = dg.MaterializeResult(asset_key=courier_key(courier.name), check_results=[skipped],
                                            metadata={"skipped": True, "files_loaded": dg.MetadataValue.int(0)})
        return found
    days = run_days(tags, group_settings(catalog, courier).look_back_seconds)
    try:
        search = find_files(courier, location, days)
        fs = attach_location(conn, location)
    except (ValueError, OSError, MissingSecret) as exc:  # unsafe or unreachable landing: only transient retried
        if isinstance(exc, ValueError):  # a pattern or a link that is not safe to read: the message says which
            raise dg.Failure(description=f"courier {courier.name!r}: {exc}", allow_retries=False) from exc
        if is_permanent(exc):
            raise fail_fast(exc, f"courier {courier.name!r}") from exc
        raise dg.Failure(description=f"courier {courier.name!r}: {exc} (transient, retried)") from exc
    window = f"{days[0]} .. {days[-1]}" if pattern.dated else "any date (undated pattern)"
    missing = [pattern.describe(d) + (f" for {d}" if d else "") for d in search.missing_days]
    if missing:
        message = f"courier {courier.name!r}: no file matching " + "; ".join(missing)
        policy = group_settings(catalog, courier)
        # a scheduled run was launched when the sensor saw every file: one that has gone since is missing now,
        # and the group's policy for missing files applies (continue, or stop)
        vanished = SCHEDULED_AT_TAG in tags and not policy.stop_when_missing
        if courier.optional or tags.get(SKIP_MISSING_TAG) == "true" or vanished:
            why = ("optional courier" if courier.optional else "the run skips missing files"
                   if tags.get(SKIP_MISSING_TAG) == "true" else "the file was there when the run was scheduled; "
                   "the group goes on without it")
            context.log.warning(f"{message} ({why}: continuing)")
            if vanished and not courier.optional and policy.notify_when_missing and channels is not None:
                audience, group = audience_of(context.run)
                deliver(Alert("missing_files", "error", audience, group, run_id=context.run.run_id,
                              cause=f"courier {courier.name}: no file matching {'; '.join(missing)} when the load "
                                    "ran (it was there when the run was scheduled)",
                              action="the run went on without it; deliver the file again and run its day"),
                        catalog.alerts, channels.slack(), channels.email(), context.log)
        else:
            raise dg.Failure(description=message + f" (required file; window {window})",
                             metadata={"missing": dg.MetadataValue.json(missing)}, allow_retries=False)
    ensure_manifest(conn)
    retry_rejected = ERROR_THRESHOLD_TAG in tags
    previous = last_loaded_columns(conn, courier.name)
    seen: dict[str, str] = {}  # sha256 -> file, within this run
    for folder in search.directories:
        entry = FileEntry(courier.name, feed.name, folder.relative, 0, "", "quarantined")
        found.quarantined.append(quarantine(context, conn, location, folder, entry,
                                            f"{folder.relative}: is a directory, not a file"))
    digests = {}
    for landed in search.files:
        try:
            digests[landed.relative] = sha256_of(fs, landed)
        except OSError as exc:
            raise landing_failure(courier, landed, exc) from exc
    known = earlier(conn, courier.name, list(digests.values()))
    for landed in search.files:
        entry = FileEntry(courier.name, feed.name, landed.relative, landed.size, digests[landed.relative], "loaded")
        try:
            before = known.get(entry.sha256) or (("loaded", seen[entry.sha256]) if entry.sha256 in seen else None)
            if before == ("loaded", landed.relative) and skip_duplicates:  # still in the landing folder
                found.already_loaded.append(landed.relative)
                continue
            if before and skip_duplicates and before[0] == "loaded":
                entry.status, entry.same_as = "duplicate", before[1]
                entry.reason = f"identical to {before[1]}, already loaded: 0 rows added"
                found.skipped.append(entry)
                continue
            if before and before[0] == "rejected" and not retry_rejected:
                entry.status, entry.same_as = "rejected", before[1]
                entry.reason = (f"identical to {before[1]}, rejected over the error threshold before; launch a run "
                                "with a higher error threshold to load it")
                found.skipped.append(entry)
                continue
            check = check_file(conn, landed, feed, courier.file, feed.strict, previous)
        except CourierError as exc:
            found.quarantined.append(quarantine(context, conn, location, landed, entry, str(exc)))
            continue
        except OSError as exc:
            raise landing_failure(courier, landed, exc) from exc
        entry.columns = check.columns
        if check.new_columns:
            found.new_columns[landed.relative] = check.new_columns
            context.log.warning(f"courier {courier.name}: {landed.relative} has column(s) feed {feed.name!r} does not "
                                f"declare, not loaded: {', '.join(check.new_columns)} (schema drift)")
        seen[entry.sha256] = landed.relative
        found.to_load.append(landed)
        found.entries[landed.relative] = entry
    with transaction(conn):
        register_files(conn, courier, found.to_load)
    context.log.info(f"courier {courier.name}: {len(search.files)} file(s) for {window}: {len(found.to_load)} to "
                     f"load, {len(found.already_loaded)} loaded before, {len(found.skipped)} skipped, "
                     f"{len(found.quarantined)} quarantined")
    check = dg.AssetCheckResult(asset_key=courier_key(courier.name), check_name=FILES_CHECK, passed=not missing,
                                severity=dg.AssetCheckSeverity.WARN, metadata={"missing": dg.MetadataValue.json(missing)})
    found.result = dg.MaterializeResult(asset_key=courier_key(courier.name), check_results=[check], metadata={
        "window": window,
        "files_loaded": dg.MetadataValue.int(len(found.to_load)),
        "files_already_loaded": dg.MetadataValue.int(len(found.already_loaded)),
        "files_skipped": dg.MetadataValue.int(len(found.skipped)),
        "files_quarantined": dg.MetadataValue.int(len(found.quarantined)),
        "bytes": dg.MetadataValue.int(sum(f.size for f in found.to_load)),
        "missing": dg.MetadataValue.json(missing),
        "new_columns": dg.MetadataValue.json(found.new_columns),
        "files": markdown_table([{"file": f.relative, "date": f.day or "", "bytes": f.size} for f in found.to_load]
                                + [{"file": e.file, "date": "", "bytes": e.bytes, "status": e.status}
                                   for e in found.skipped + found.quarantined]),
        "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
    })
    return found


def landing_failure(courier: Courier, landed: LandedFile, exc: OSError) -> dg.Failure:
    """Reading the landing location failed: not the file's fault, so nothing is moved. Transient errors are
    retried (remote couriers' retry policy); permanent ones fail fast saying what to check."""
    if is_permanent(exc):
        return fail_fast(exc, f"courier {courier.name!r}: {landed.relative}")
    return dg.Failure(description=f"courier {courier.name!r}: {landed.relative}: {exc} (transient, retried)")


def quarantine(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, location: Location,
               landed: LandedFile, entry: FileEntry, reason: str) -> FileEntry:
    """Move a refused file to quarantine and record it in audit.files at once (it has left the landing area)."""
    entry.status, entry.reason = "quarantined", reason
    try:
        moved = quarantine_file(location, landed, reason, {"courier": entry.courier, "feed": entry.feed,
                                                           "sha256": entry.sha256, "run_id": context.run.run_id})
    except (OSError, ValueError) as exc:
        raise dg.Failure(description=f"courier {entry.courier!r}: {reason}; and it could not be moved to the "
                                     f"quarantine folder ({exc}): it stays where it is") from exc
    entry.same_as = moved
    record(conn, [entry], context.run.run_id)
    context.log.error(f"courier {entry.courier}: {reason}; moved to {moved} (quarantine)")
    return entry


def is_remote(catalog: Catalog, couriers: list[Courier]) -> bool:
    """Whether any of the couriers lands from S3 or SFTP (its step then retries transient I/O errors)."""
    return any(_protocol(catalog, c) != "local" for c in couriers)


def group_settings(catalog: Catalog, courier: Courier) -> GroupCourier:
    """The courier's settings in its courier group (defaults outside any group)."""
    group = catalog.group_of_courier(courier.name)
    settings = next((c for c in group.couriers if c.courier == courier.name), None) if group else None
    return settings or GroupCourier(courier=courier.name)


def with_acceptance(files: CourierFiles) -> dg.MaterializeResult:
    """The courier's materialization plus its `files_accepted` check (fails when a file was refused)."""
    refused = files.quarantined + [e for e in files.entries.values() if e.status == "rejected"]
    check = dg.AssetCheckResult(
        asset_key=courier_key(files.courier.name), check_name=ACCEPTED_CHECK, passed=not refused,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"refused_files": dg.MetadataValue.json([
            {"file": e.file, "status": e.status, "reason": e.reason,
             "moved_to": e.same_as if e.status == "quarantined" else ""} for e in refused])})
    result = files.result
    return dg.MaterializeResult(asset_key=result.asset_key, metadata=result.metadata,
                                check_results=[*(result.check_results or []), check])


def alert_refused(context: dg.AssetExecutionContext, channels: AlertChannelsResource, catalog: Catalog,
                   refused: list[FileEntry], stopped: bool) -> None:
    """One alert for the files this load refused: file names and reasons (never row values)."""
    audience, group = audience_of(context.run)
    lines = "; ".join(f"{e.file} ({e.status}{' to ' + e.same_as if e.status == 'quarantined' else ''}): "
                      f"{e.reason.removeprefix(e.file + ': ')[:300]}" for e in refused)
    alert = Alert(
        kind="file_refused", severity="error" if stopped or any(e.status == "quarantined" for e in refused)
        else "warning", audience=audience, group=group, run_id=context.run.run_id,
        cause=f"{len(refused)} file(s) refused" + (", the load stopped" if stopped else ", the other files loaded")
        + f": {lines}",
        action="fix the file at its source and deliver it again (quarantined files sit beside a .reason.txt; "
               "rejected rows are in audit.rejects; a run with a higher error threshold loads a rejected file)",
    )
    deliver(alert, catalog.alerts, channels.slack(), channels.email(), context.log)


def build_land_only_asset(catalog: Catalog, courier: Courier) -> dg.AssetsDefinition:
    """A `land_only` courier: its files are found and checked, not loaded."""

    @dg.multi_asset(specs=[courier_spec(catalog, courier)],
                    check_specs=[files_check_spec(courier), accepted_check_spec(courier)],
                    name=f"courier__{courier.name}", pool=WAREHOUSE_POOL,
                    retry_policy=TRANSIENT_RETRY if is_remote(catalog, [courier]) else None)
    def _land(context: dg.AssetExecutionContext, warehouse: WarehouseResource, alert_channels: AlertChannelsResource):
        with warehouse.get_connection() as conn:
            found = collect_files(context, conn, catalog, courier, channels=alert_channels)
        if found.quarantined:
            alert_refused(context, alert_channels, catalog, found.quarantined, stopped=False)
        yield with_acceptance(found)

    return _land
