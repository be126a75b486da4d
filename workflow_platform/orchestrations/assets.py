"""Dagster assets `orchestration/<name>`: send a segment to its destination."""


import datetime as dt

import dagster as dg

from workflow_platform.catalog.models import Catalog, Orchestration
from workflow_platform.layout import asset_group, orchestration_key, segment_key
from workflow_platform.metadata import Stopwatch
from workflow_platform.orchestrations.send import send_to_destination
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource


def build_orchestration_asset(catalog: Catalog, orchestration: Orchestration) -> dg.AssetsDefinition:
    destination = next(d for d in catalog.destinations if d.name == orchestration.destination)

    @dg.asset(
        key=orchestration_key(orchestration.name),
        deps=[segment_key(orchestration.segment)],
        group_name=asset_group(catalog, orchestration_key(orchestration.name)),
        description=orchestration.description
        or f"Sends segment {orchestration.segment!r} to destination {destination.name!r} ({destination.type}).",
        kinds={"duckdb", destination.type},
        pool=WAREHOUSE_POOL,
        metadata={"destination": destination.name, "workflow": orchestration.workflow},
    )
    def _orchestration(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        with warehouse.get_connection() as conn:
            sent = send_to_destination(conn, orchestration, destination, dt.date.today())
        context.log.info(f"sent {sent.rows} rows to {sent.path}")
        return dg.MaterializeResult(metadata={
            "rows": dg.MetadataValue.int(sent.rows),
            "files": dg.MetadataValue.int(1),
            "bytes": dg.MetadataValue.int(sent.bytes),
            "destination_url": dg.MetadataValue.path(sent.path),
            "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
        })

    return _orchestration
