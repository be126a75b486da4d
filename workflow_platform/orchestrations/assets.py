"""Dagster assets `orchestration/<name>`: send a segment through a data template to its destination."""


import datetime as dt
from collections.abc import Callable

import dagster as dg

from workflow_platform.catalog.models import Catalog, Destination, Orchestration
from workflow_platform.keys import orchestration_key, segment_key
from workflow_platform.metadata import Stopwatch
from workflow_platform.orchestrations.errors import SendError
from workflow_platform.orchestrations.export import template_select
from workflow_platform.orchestrations.send import SendNames, SendSummary, send_rows
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource
from workflow_platform.retries import TRANSIENT_RETRY, fail_fast, is_permanent, transient_retry
from workflow_platform.sql import ident
from workflow_platform.tags import WORKFLOW_TAG


def send_retry_policy(destination: Destination) -> dg.RetryPolicy | None:
    """How the step retries a transient send failure, with exponential backoff and jitter (retries.py).

    Folder destinations try each file `max_attempts` times in all, one try per step attempt (about 2 s, 6 s, 14 s,
    ... apart). A webhook already tries each batch `max_attempts` times inside the step (honouring Retry-After,
    keeping the batches delivered); when a batch still fails, TRANSIENT_RETRY retries the step, which sends the
    batches again under the same Idempotency-Keys, so the receiver can drop what it already took."""
    if destination.type == "webhook":
        return TRANSIENT_RETRY
    return transient_retry(destination.max_attempts - 1) if destination.max_attempts > 1 else None


def send_or_fail(send: Callable[[], SendSummary], what: str) -> SendSummary:
    """Run a send of `what` ("destination 'crm'"); a permanent error fails the step at once (no retry), a
    transient one fails this attempt and the step's retry policy tries again."""
    try:
        return send()
    except Exception as exc:
        if is_permanent(exc):
            raise fail_fast(exc, what) from exc
        if not isinstance(exc, SendError):
            raise  # transient or unknown: the retry policy decides, the traceback stays as it is
        raise dg.Failure(description=f"{exc} (transient: retried while the destination's max_attempts allow)",
                         metadata={"error_type": type(exc).__name__, "permanent": False}) from exc


def send_time(context: dg.AssetExecutionContext) -> dt.datetime:
    """The time file names use: when the run was created, so a retried step writes the same names again."""
    record = context.instance.get_run_record_by_id(context.run.run_id)
    created = record.create_timestamp if record else None
    return created.astimezone(dt.UTC) if created else dt.datetime.now(dt.UTC)


def send_metadata(summary: SendSummary, destination: Destination, clock: Stopwatch) -> dict:
    return {
        "rows": dg.MetadataValue.int(summary.rows),
        "files": dg.MetadataValue.int(summary.files),
        "bytes": dg.MetadataValue.int(summary.bytes),
        "destination": destination.name,
        "destination_type": destination.type,
        "destination_url": dg.MetadataValue.text(summary.urls[0] if summary.urls else ""),
        "sent_files": dg.MetadataValue.json(summary.urls),
        "elapsed_seconds": dg.MetadataValue.float(clock.seconds),
    }


def build_orchestration_asset(catalog: Catalog, orchestration: Orchestration) -> dg.AssetsDefinition:
    destination = catalog.destination(orchestration.destination)
    columns = orchestration.columns
    template = ", ".join(f"{s} → {d}" for s, d in columns.items()) if columns else "all columns"

    @dg.asset(
        key=orchestration_key(orchestration.name),
        deps=[segment_key(orchestration.segment)],
        description=orchestration.description or (
            f"Sends segment {orchestration.segment!r} to destination {destination.name!r} ({destination.type}); "
            f"data template: {template}."),
        kinds={"duckdb", destination.type},
        tags={WORKFLOW_TAG: orchestration.workflow},
        pool=WAREHOUSE_POOL,
        retry_policy=send_retry_policy(destination),
        metadata={"destination": destination.name, "workflow": orchestration.workflow,
                  "file_name_template": orchestration.filename},
    )
    def _orchestration(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        clock = Stopwatch()
        query = template_select(columns, f"segment.{ident(orchestration.segment)}")
        with warehouse.get_connection() as conn:
            summary = send_or_fail(lambda: send_rows(
                conn, query, destination, orchestration.filename, SendNames(orchestration.name),
                send_time(context), idempotency_prefix=f"{context.run.run_id}:{orchestration.name}:"),
                f"destination {destination.name!r}")
        context.log.info(f"sent {summary.rows} rows in {summary.files} file(s) to {destination.name}")
        return dg.MaterializeResult(metadata=send_metadata(summary, destination, clock))

    return _orchestration
