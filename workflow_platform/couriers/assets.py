"""Dagster assets `courier/<name>`: find the run's files, check them, and record the manifest `raw.<courier>__files`."""


import dagster as dg

from workflow_platform.automation.window import SKIP_MISSING_TAG, run_days
from workflow_platform.catalog.models import Catalog, Courier, GroupCourier
from workflow_platform.couriers.ingest import CourierError, register_files
from workflow_platform.couriers.landing import find_files, remote_filesystems
from workflow_platform.couriers.patterns import FilePattern
from workflow_platform.layout import asset_group, courier_key, owners_and_tags
from workflow_platform.metadata import Stopwatch, markdown_table
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.sql import transaction


def build_courier_asset(catalog: Catalog, courier: Courier) -> dg.AssetsDefinition:
    feed = catalog.feed(courier.feed)
    location = catalog.location(courier.location)
    group = catalog.group_of_courier(courier.name)
    settings = next((c for c in group.couriers if c.courier == courier.name), None) if group else None
    settings = settings or GroupCourier(courier=courier.name)
    protocol = location.url.split("://")[0] if "://" in location.url else "local"
    pattern = FilePattern.parse(courier.pattern)

    @dg.asset(
        key=courier_key(courier.name),
        group_name=asset_group(catalog, courier_key(courier.name)),
        description=courier.description or f"Files matching {courier.pattern} in location {location.name!r}, "
        f"for feed {feed.name!r}.",
        kinds={"duckdb", protocol},
        pool=WAREHOUSE_POOL,
        metadata={"pattern": courier.pattern, "location": location.url, "optional": courier.optional,
                  "load": courier.load},
        **owners_and_tags(catalog, courier=courier.name),
    )
    def _courier(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        tags = context.run.tags
        days = run_days(tags, settings.look_back_seconds)
        search = find_files(courier, location, days)
        missing = [d for d in search.missing_days]
        window = f"{days[0]} .. {days[-1]}" if pattern.dated else "any date (undated pattern)"
        missing_text = [pattern.describe(d) + (f" for {d}" if d else "") for d in missing]
        if missing:
            message = f"courier {courier.name!r}: no file matching " + "; ".join(missing_text)
            if courier.optional or tags.get(SKIP_MISSING_TAG) == "true":
                context.log.warning(message + " (optional: continuing)")
            else:
                raise dg.Failure(description=message + f" (required file; window {window})",
                                 metadata={"missing": dg.MetadataValue.json(missing_text)})
        try:
            with warehouse.get_connection() as conn, transaction(conn):
                units = register_files(conn, courier, feed, search.files, remote_filesystems(location))
        except CourierError as exc:
            raise dg.Failure(description=f"courier {courier.name!r}: {exc}") from exc
        context.log.info(f"found {len(search.files)} file(s) for {window}, all readable with the feed's columns")
        return dg.MaterializeResult(metadata={
            "window": window,
            "files_loaded": dg.MetadataValue.int(len(search.files)),
            "files_read": dg.MetadataValue.int(units),
            "bytes": dg.MetadataValue.int(sum(f.size for f in search.files)),
            "missing": dg.MetadataValue.json(missing_text),
            "files": markdown_table([{"file": f.relative, "date": f.day or "", "bytes": f.size} for f in search.files]),
            "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
        })

    return _courier
