"""The courier part of the load step: find the run's files, decide each one (load, already loaded, duplicate,
quarantine), and register the ones to load in `raw.<courier>__files` for the feed (ingest/staging.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg
import duckdb
import fsspec

from workflow_platform.alerts.model import run_alert
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.catalog.models import Catalog, Courier, Feed, GroupCourier, Location
from workflow_platform.formats.patterns import FilePattern
from workflow_platform.ingest.audit import FileEntry, earlier, ensure_manifest, last_loaded_columns, record
from workflow_platform.ingest.couriers.check import check_file
from workflow_platform.ingest.couriers.landing import FileSearch, attach_location, find_files, sha256_of
from workflow_platform.ingest.couriers.quarantine import quarantine_file
from workflow_platform.ingest.feeds.typing import FileOutcome
from workflow_platform.ingest.files.landed import LandedFile
from workflow_platform.ingest.files.reading import UnreadableFile
from workflow_platform.ingest.staging import register_files
from workflow_platform.ingest.window import run_days
from workflow_platform.keys import FILES_CHECK, courier_key
from workflow_platform.metadata import Stopwatch, markdown_table
from workflow_platform.retries import fail_fast, is_permanent
from workflow_platform.sql import committed
from workflow_platform.storage import MissingSecret
from workflow_platform.tags import (
    ALL_DATA_TAG,
    DATE_FROM_TAG,
    ERROR_THRESHOLD_TAG,
    SCHEDULED_AT_TAG,
    SKIP_COURIERS_TAG,
    SKIP_MISSING_TAG,
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
    left_out: bool = False  # the run skips this courier (SKIP_COURIERS_TAG): no materialization, only its checks

    def read(self, outcome: FileOutcome) -> FileEntry:
        """The manifest row of a file the feed read (loaded or rejected), with its counts."""
        entry = self.entries[outcome.file]
        entry.rows_read, entry.rows_rejected = outcome.rows, outcome.rejected
        entry.rows_loaded = outcome.rows - outcome.rejected if outcome.status == "loaded" else 0
        entry.values_nulled = outcome.nulled
        if outcome.status == "rejected":
            entry.status, entry.reason = "rejected", outcome.reason
        return entry


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
    tags = context.run.tags
    found = CourierFiles(courier)
    if courier.name in {c.strip() for c in tags.get(SKIP_COURIERS_TAG, "").split(",")}:
        return _skipped(context, conn, found)
    group = catalog.group_of_courier(courier.name)
    all_data = tags.get(ALL_DATA_TAG, "").strip().lower() == "true"
    pattern = FilePattern.parse(courier.pattern)
    if all_data and DATE_FROM_TAG in tags:
        raise dg.Failure(description=f"run tags {ALL_DATA_TAG} and {DATE_FROM_TAG} together: give days or all data, "
                                     "not both", allow_retries=False)
    if all_data and pattern.dated and not pattern.has_year:
        raise dg.Failure(description=f"courier {courier.name!r}: its pattern has no year (yyyy), so an all-data run "
                                     "cannot tell its files' dates; load days instead (--date, --from/--to)",
                         allow_retries=False)
    days = None if all_data else run_days(tags, group_settings(catalog, courier).look_back_seconds,
                                          zone=group.date_zone if group else "UTC",
                                          past_day_only=bool(group and group.past_day_only))
    search, fs = _search(conn, courier, location, days)
    window = ("any date (undated pattern)" if not pattern.dated else "all data (every date)" if all_data
              else f"{days[0]} .. {days[-1]}")
    missing = [pattern.describe(d) + (f" for {d}" if d else "") for d in search.missing_days]
    if missing:
        _on_missing(context, catalog, courier, missing, window, channels)
    _decide(context, conn, catalog.feed(courier.feed), location, search, fs, found, skip_duplicates)
    committed(conn, lambda: register_files(conn, courier, found.to_load))  # again after a lake conflict
    context.log.info(f"courier {courier.name}: {len(search.files)} file(s) for {window}: {len(found.to_load)} to "
                     f"load, {len(found.already_loaded)} loaded before, {len(found.skipped)} skipped, "
                     f"{len(found.quarantined)} quarantined")
    found.result = _materialization(found, window, missing, clock)
    return found


def _skipped(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, found: CourierFiles) -> CourierFiles:
    """The run skips this courier (its SKIP_COURIERS_TAG): nothing registered, the courier asset is not
    materialized by the run (its spec is skippable), its files check passes saying why."""
    name = found.courier.name
    context.log.warning(f"courier {name}: skipped for this run ({SKIP_COURIERS_TAG})")
    committed(conn, lambda: register_files(conn, found.courier, []))
    found.left_out = True
    found.result = dg.MaterializeResult(asset_key=courier_key(name), check_results=[dg.AssetCheckResult(
        asset_key=courier_key(name), check_name=FILES_CHECK, passed=True, metadata={"skipped": True},
        description=f"skipped: this run leaves courier {name} out ({SKIP_COURIERS_TAG})")])
    return found


def _search(conn: duckdb.DuckDBPyConnection, courier: Courier, location: Location,
            days: list | None) -> tuple[FileSearch, fsspec.AbstractFileSystem]:
    """The files of the window (every date when `days` is None), and the location's filesystem attached to the
    connection. An unsafe or unreachable landing fails the step; only a transient error is retried."""
    try:
        return find_files(courier, location, days, all_dates=days is None), attach_location(conn, location)
    except (ValueError, OSError, MissingSecret) as exc:
        if isinstance(exc, ValueError):  # a pattern or a link that is not safe to read: the message says which
            raise dg.Failure(description=f"courier {courier.name!r}: {exc}", allow_retries=False) from exc
        if is_permanent(exc):
            raise fail_fast(exc, f"courier {courier.name!r}") from exc
        raise dg.Failure(description=f"courier {courier.name!r}: {exc} (transient, retried)") from exc


def _on_missing(context: dg.AssetExecutionContext, catalog: Catalog, courier: Courier, missing: list[str],
                window: str, channels: AlertChannelsResource | None) -> None:
    """A missing file fails the step, unless the courier is optional, the run skips missing files, or the file
    was there when its scheduled run was launched and the group goes on without it (then alerted)."""
    tags = context.run.tags
    message = f"courier {courier.name!r}: no file matching " + "; ".join(missing)
    policy = group_settings(catalog, courier)
    # a scheduled run was launched when the sensor saw every file: one that has gone since is missing now,
    # and the group's policy for missing files applies (continue, or stop)
    vanished = SCHEDULED_AT_TAG in tags and not policy.stop_when_missing
    skip_missing = tags.get(SKIP_MISSING_TAG) == "true"
    if not (courier.optional or skip_missing or vanished):
        raise dg.Failure(description=message + f" (required file; window {window})",
                         metadata={"missing": dg.MetadataValue.json(missing)}, allow_retries=False)
    why = ("optional courier" if courier.optional else "the run skips missing files" if skip_missing
           else "the file was there when the run was scheduled; the group goes on without it")
    context.log.warning(f"{message} ({why}: continuing)")
    if vanished and not courier.optional and policy.notify_when_missing and channels is not None:
        alert = run_alert(context.run, "missing_files", "error",
                          cause=f"courier {courier.name}: no file matching {'; '.join(missing)} when the load ran "
                                "(it was there when the run was scheduled)",
                          action="the run went on without it; deliver the file again and load its day "
                                 f"(`workflow-platform launch --group {_group_name(catalog, courier)} --date <day>`)")
        channels.send(alert, catalog.alerts, context.log)


def _decide(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, feed: Feed, location: Location,
            search: FileSearch, fs: fsspec.AbstractFileSystem, found: CourierFiles, skip_duplicates: bool) -> None:
    """Decide every file found (and quarantine folders where a file was expected), into `found`."""
    courier = found.courier
    ensure_manifest(conn)
    retry_rejected = ERROR_THRESHOLD_TAG in context.run.tags
    previous = last_loaded_columns(conn, courier.name)
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
    seen: dict[str, str] = {}  # sha256 -> file, within this run
    for landed in search.files:
        entry = FileEntry(courier.name, feed.name, landed.relative, landed.size, digests[landed.relative], "loaded")
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
        if _check(context, conn, feed, location, landed, entry, found, previous):
            seen[entry.sha256] = landed.relative


def _check(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, feed: Feed, location: Location,
           landed: LandedFile, entry: FileEntry, found: CourierFiles, previous) -> bool:
    """Check one new file: to load (True), or quarantined."""
    courier = found.courier
    try:
        check = check_file(conn, landed, feed, courier.file, feed.strict, previous, shaped=bool(courier.ingest_sql))
    except UnreadableFile as exc:
        found.quarantined.append(quarantine(context, conn, location, landed, entry, str(exc)))
        return False
    except OSError as exc:
        raise landing_failure(courier, landed, exc) from exc
    entry.columns = check.columns
    if check.new_columns:
        found.new_columns[landed.relative] = check.new_columns
        context.log.warning(f"courier {courier.name}: {landed.relative} has column(s) feed {feed.name!r} does not "
                            f"declare, not loaded: {', '.join(check.new_columns)} (schema drift)")
    found.to_load.append(landed)
    found.entries[landed.relative] = entry
    return True


def _materialization(found: CourierFiles, window: str, missing: list[str], clock: Stopwatch) -> dg.MaterializeResult:
    check = dg.AssetCheckResult(asset_key=courier_key(found.courier.name), check_name=FILES_CHECK,
                                passed=not missing, severity=dg.AssetCheckSeverity.WARN,
                                metadata={"missing": dg.MetadataValue.json(missing)})
    return dg.MaterializeResult(asset_key=courier_key(found.courier.name), check_results=[check], metadata={
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


def quarantine_unread(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog,
                      files: CourierFiles, relative: str, reason: str) -> FileEntry:
    """A file the courier accepted and the feed could not read to the end: out of this load, into quarantine."""
    landed = next(f for f in files.to_load if f.relative == relative)
    entry = quarantine(context, conn, catalog.location(files.courier.location), landed, files.entries.pop(relative),
                       reason)
    files.quarantined.append(entry)
    return entry


def _group_name(catalog: Catalog, courier: Courier) -> str:
    group = catalog.group_of_courier(courier.name)
    return group.name if group else "<group>"


def group_settings(catalog: Catalog, courier: Courier) -> GroupCourier:
    """The courier's settings in its courier group (defaults outside any group)."""
    group = catalog.group_of_courier(courier.name)
    settings = next((c for c in group.couriers if c.courier == courier.name), None) if group else None
    return settings or GroupCourier(courier=courier.name)
