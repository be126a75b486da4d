"""Run the workflow in-process (the CLI's `run`): pick the job and the window, execute, summarize."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

import dagster as dg

from workflow_platform.automation.build import build_run_tags, builds_after_groups, follow_up
from workflow_platform.automation.jobs import BUILD_JOB, WORKFLOW_JOB, courier_group_job_name, ingest_keys
from workflow_platform.automation.run_tags import run_tags
from workflow_platform.catalog.models import Catalog
from workflow_platform.definitions import build_definitions
from workflow_platform.settings import lake_catalog, warehouse_kind, warehouse_path

ROW_KEYS = ("dagster/row_count", "rows", "customers")


@dataclass
class AssetRow:
    key: str
    rows: int | None
    detail: str


@dataclass
class RunOutcome:
    run_id: str
    success: bool
    window_text: str
    warehouse: str
    rows: list[AssetRow] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # "file (status): reason" of files quarantined or rejected
    build_run_id: str | None = None  # the build run that followed a courier group's load


def run_workflow(catalog: Catalog, window: tuple[dt.date, dt.date] | None = None, group: str | None = None,
                 ingest_only: bool = False, skip_missing: bool = False, error_threshold: float | None = None,
                 skip_couriers: list[str] | None = None, job_name: str | None = None, refresh_mode: str | None = None,
                 all_data: bool = False, notify: str | None = None,
                 warehouse: str | None = None,
                 instance: dg.DagsterInstance | None = None, log_level: str = "CRITICAL") -> RunOutcome:
    """Run a courier group's job (or the whole workflow, or `job_name`) in this process and summarize it; after a
    successful full or refresh courier-group run, its build run too (as sensor courier_groups__build does)."""
    warehouse = str(warehouse or warehouse_path())
    defs = build_definitions(catalog, warehouse)
    if group and group not in {g.name for g in catalog.courier_groups}:
        raise ValueError(f"unknown courier group {group!r}; groups: {', '.join(g.name for g in catalog.courier_groups)}")
    job = defs.resolve_job_def(job_name or (courier_group_job_name(group) if group else WORKFLOW_JOB))
    tags = run_tags(catalog, window, skip_missing=skip_missing, error_threshold=error_threshold,
                    skip_couriers=skip_couriers, refresh_mode=refresh_mode, all_data=all_data, notify=notify)
    selection = None
    if ingest_only:
        couriers = ([c.courier for c in next(g for g in catalog.courier_groups if g.name == group).couriers]
                    if group else [c.name for c in catalog.couriers])
        selection = ingest_keys(catalog, couriers)
    own_instance = instance is None
    instance = instance or (dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral())
    run_config = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    try:
        results = [job.execute_in_process(instance=instance, tags=tags, asset_selection=selection,
                                          raise_on_error=False, run_config=run_config)]
        run = instance.get_run_by_id(results[0].run_id)
        keys = follow_up(run, builds_after_groups(catalog, defs.assets)) if results[0].success else []
        if keys:
            results.append(defs.resolve_job_def(BUILD_JOB).execute_in_process(
                instance=instance, tags=build_run_tags(run), asset_selection=keys, raise_on_error=False,
                run_config=run_config))
    finally:
        if own_instance:
            instance.dispose()
    outcome = RunOutcome(
        run_id=results[0].run_id, success=all(r.success for r in results),
        window_text=(f"{window[0]} .. {window[1]}" if window else "all data (every date)" if all_data
                     else "default look-back window"),
        warehouse=f"DuckLake {lake_catalog()}" if warehouse_kind() == "ducklake" else warehouse,
        build_run_id=results[1].run_id if len(results) > 1 else None,
    )
    for result in results:
        _summarize(result, outcome)
    return outcome


def _summarize(result: dg.ExecuteInProcessResult, outcome: RunOutcome) -> None:
    """Rows and details per materialized asset, refused files and step failures, into `outcome`."""
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        rows = next((int(metadata[k]) for k in ROW_KEYS if k in metadata), None)
        detail = ", ".join(f"{k}={metadata[k]}" for k in ("files_loaded", "files", "bytes", "rows_rejected",
                                                           "values_nulled", "rows_inserted", "rows_updated", "id_churn_pct",
                                                           "destination_url") if metadata.get(k) not in (None, ""))
        if metadata.get("missing"):
            detail += f", missing: {'; '.join(metadata['missing'])}"
        outcome.rows.append(AssetRow(materialization.asset_key.to_user_string(), rows, detail))
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if evaluation.metadata.get("skipped") is not None:  # a courier the run left out
                outcome.rows.append(AssetRow(evaluation.asset_key.to_user_string(), None, "skipped"))
            files = evaluation.metadata.get("refused_files")
            if not evaluation.passed and files is not None:
                outcome.refused += [f"{f['file']} ({f['status']}): {f['reason']}" for f in files.value]
        if event.event_type_value == "STEP_FAILURE":
            failure = event.step_failure_data.user_failure_data
            error = event.step_failure_data.error
            while error.cause is not None:  # the innermost error says what actually went wrong
                error = error.cause
            message = failure.description if failure and failure.description else error.message
            outcome.failures.append(f"{event.step_key}: {message.strip()}")

