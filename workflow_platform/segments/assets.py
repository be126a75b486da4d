"""Dagster assets `segment/<name>` with their row-count thresholds as asset checks."""


import dagster as dg

from workflow_platform.catalog.models import Catalog, Segment
from workflow_platform.catalog.validate import sql_tables
from workflow_platform.layout import asset_group, segment_key, table_key
from workflow_platform.metadata import Stopwatch, table_metadata
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.segments.build import SegmentSqlError, build_segment, threshold_breaches


def build_segment_asset(catalog: Catalog, segment: Segment) -> dg.AssetsDefinition:
    key = segment_key(segment.name)
    checks = []
    if segment.fail_when:
        checks.append(dg.AssetCheckSpec("fail_threshold", asset=key, blocking=True,
                                        description=f"Fails the workflow when rows are outside {segment.fail_when}"))
    if segment.warn_when:
        checks.append(dg.AssetCheckSpec("warn_threshold", asset=key,
                                        description=f"Warns when rows are outside {segment.warn_when}"))

    @dg.asset(
        key=key,
        deps=[table_key(t) for t in sorted(sql_tables(segment.sql))],
        group_name=asset_group(catalog, key),
        description=segment.description or f"Segment: {segment.sql.strip()}",
        kinds={"duckdb", "sql"},
        pool=WAREHOUSE_POOL,
        check_specs=checks,
        metadata={"sql": dg.MetadataValue.md(f"```sql\n{segment.sql.strip()}\n```")},
    )
    def _segment(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        clock = Stopwatch()
        with warehouse.get_connection() as conn:
            try:
                rows = build_segment(conn, segment)
            except SegmentSqlError as exc:
                raise dg.Failure(description=str(exc)) from exc
            metadata = table_metadata(conn, "segment", segment.name)
        yield dg.MaterializeResult(metadata={**metadata, "elapsed_seconds": dg.MetadataValue.float(clock.seconds)})
        for name, bounds, severity in (("fail_threshold", segment.fail_when, dg.AssetCheckSeverity.ERROR),
                                       ("warn_threshold", segment.warn_when, dg.AssetCheckSeverity.WARN)):
            if bounds:
                breach = threshold_breaches(rows, bounds.min_rows, bounds.max_rows)
                if breach:
                    context.log.warning(f"segment {segment.name}: {breach}")
                yield dg.AssetCheckResult(check_name=name, passed=breach is None, severity=severity,
                                          metadata={"rows": rows, "detail": breach or "within bounds"})

    return _segment
