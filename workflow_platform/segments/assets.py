"""Dagster assets `segment/<name>` with their row-count thresholds as asset checks."""


import dagster as dg

from workflow_platform.alerts.model import run_alert
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.catalog.models import Catalog, Segment
from workflow_platform.catalog.validate import sql_tables
from workflow_platform.keys import segment_key, table_key
from workflow_platform.metadata import Stopwatch, pii_columns, table_metadata
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
        description=segment.description or f"Segment: {segment.sql.strip()}",
        kinds={"duckdb", "sql"},
        pool=WAREHOUSE_POOL,
        check_specs=checks,
        metadata={"sql": dg.MetadataValue.md(f"```sql\n{segment.sql.strip()}\n```"),
                  "dagster/table_name": f"segment.{segment.name}"},
    )
    def _segment(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                 alert_channels: AlertChannelsResource):
        clock = Stopwatch()
        with warehouse.get_connection() as conn:
            try:
                rows = build_segment(conn, segment)
            except SegmentSqlError as exc:
                raise dg.Failure(description=str(exc)) from exc
            metadata = table_metadata(conn, "segment", segment.name, pii=pii_columns(catalog))
        yield dg.MaterializeResult(metadata={**metadata, "elapsed_seconds": dg.MetadataValue.float(clock.seconds)})
        for name, bounds, severity in (("fail_threshold", segment.fail_when, dg.AssetCheckSeverity.ERROR),
                                       ("warn_threshold", segment.warn_when, dg.AssetCheckSeverity.WARN)):
            if bounds:
                breach = threshold_breaches(rows, bounds.min_rows, bounds.max_rows)
                if breach:
                    context.log.warning(f"segment {segment.name}: {breach}")
                    _alert_breach(context, alert_channels, catalog, segment, name, breach)
                yield dg.AssetCheckResult(check_name=name, passed=breach is None, severity=severity,
                                          metadata={"rows": rows, "detail": breach or "within bounds"})

    return _segment


def _alert_breach(context: dg.AssetExecutionContext, channels: AlertChannelsResource, catalog: Catalog,
                  segment: Segment, check: str, breach: str) -> None:
    """Warn: the workflow goes on. Fail: the blocking check stops everything downstream of the segment."""
    failing = check == "fail_threshold"
    alert = run_alert(
        context.run, "query_threshold", "error" if failing else "warning",
        cause=f"query {segment.name}: {breach}" + (" (fail threshold: its orchestrations do not run)" if failing
                                                   else " (warn threshold: the workflow continues)"),
        action="check the query and the data it reads; the asset check on segment/"
               f"{segment.name} shows the count",
    )
    channels.send(alert, catalog.alerts, context.log)
