"""Assets `courier/<name>`: find the run's files, check them, and record the manifest `raw.<courier>__files`.

A courier that loads a feed runs in that feed's load step (domain/assets.py); a `land_only` courier is an
asset of its own.
"""

import dagster as dg
import duckdb

from workflow_platform.automation.runtime import freshness_for
from workflow_platform.automation.window import SKIP_COURIERS_TAG, SKIP_MISSING_TAG, run_days
from workflow_platform.catalog.models import Catalog, Courier, GroupCourier
from workflow_platform.couriers.ingest import CourierError, register_files
from workflow_platform.couriers.landing import find_files, remote_filesystems
from workflow_platform.couriers.patterns import FilePattern
from workflow_platform.layout import asset_group, courier_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, markdown_table
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.sql import transaction


def _protocol(catalog: Catalog, courier: Courier) -> str:
    url = catalog.location(courier.location).url
    return url.split("://")[0] if "://" in url else "local"


FILES_CHECK = "expected_files_present"


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


def collect_files(context: dg.AssetExecutionContext, conn: duckdb.DuckDBPyConnection, catalog: Catalog,
                  courier: Courier) -> dg.MaterializeResult:
    """Find the files of the run's window, check each reads with the feed's columns, record the manifest.

    A missing required file raises dg.Failure naming the pattern and the day (unless the run skips missing
    files); a missing optional file is a warning."""
    clock = Stopwatch()
    location = catalog.location(courier.location)
    group = catalog.group_of_courier(courier.name)
    settings = next((c for c in group.couriers if c.courier == courier.name), None) if group else None
    settings = settings or GroupCourier(courier=courier.name)
    pattern = FilePattern.parse(courier.pattern)
    tags = context.run.tags
    if courier.name in {c.strip() for c in tags.get(SKIP_COURIERS_TAG, "").split(",")}:
        context.log.warning(f"courier {courier.name}: skipped for this run ({SKIP_COURIERS_TAG})")
        with transaction(conn):
            register_files(conn, courier, catalog.feed(courier.feed), [])
        skipped = dg.AssetCheckResult(asset_key=courier_key(courier.name), check_name=FILES_CHECK, passed=True,
                                      metadata={"skipped": True})
        return dg.MaterializeResult(asset_key=courier_key(courier.name), check_results=[skipped],
                                    metadata={"skipped": True, "files_loaded": dg.MetadataValue.int(0)})
    days = run_days(tags, settings.look_back_seconds)
    try:
        search = find_files(courier, location, days)
    except (ValueError, OSError) as exc:
        raise dg.Failure(description=f"courier {courier.name!r}: {exc}") from exc
    window = f"{days[0]} .. {days[-1]}" if pattern.dated else "any date (undated pattern)"
    missing = [pattern.describe(d) + (f" for {d}" if d else "") for d in search.missing_days]
    if missing:
        message = f"courier {courier.name!r}: no file matching " + "; ".join(missing)
        if courier.optional or tags.get(SKIP_MISSING_TAG) == "true":
            context.log.warning(message + " (optional: continuing)")
        else:
            raise dg.Failure(description=message + f" (required file; window {window})",
                             metadata={"missing": dg.MetadataValue.json(missing)})
    try:
        with transaction(conn):
            units = register_files(conn, courier, catalog.feed(courier.feed), search.files,
                                   remote_filesystems(location))
    except CourierError as exc:
        raise dg.Failure(description=f"courier {courier.name!r}: {exc}") from exc
    context.log.info(f"courier {courier.name}: {len(search.files)} file(s) for {window}, all readable")
    check = dg.AssetCheckResult(asset_key=courier_key(courier.name), check_name=FILES_CHECK, passed=not missing,
                                severity=dg.AssetCheckSeverity.WARN, metadata={"missing": dg.MetadataValue.json(missing)})
    return dg.MaterializeResult(asset_key=courier_key(courier.name), check_results=[check], metadata={
        "window": window,
        "files_loaded": dg.MetadataValue.int(len(search.files)),
        "files_read": dg.MetadataValue.int(units),
        "bytes": dg.MetadataValue.int(sum(f.size for f in search.files)),
        "missing": dg.MetadataValue.json(missing),
        "files": markdown_table([{"file": f.relative, "date": f.day or "", "bytes": f.size} for f in search.files]),
        "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
    })


def build_land_only_asset(catalog: Catalog, courier: Courier) -> dg.AssetsDefinition:
    """A `land_only` courier: its files are found and checked, not loaded."""

    @dg.multi_asset(specs=[courier_spec(catalog, courier)], check_specs=[files_check_spec(courier)],
                    name=f"courier__{courier.name}", pool=WAREHOUSE_POOL)
    def _land(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        with warehouse.get_connection() as conn:
            yield collect_files(context, conn, catalog, courier)

    return _land
