"""How orchestration groups start: after a courier group, on a schedule, or manually (their job, from the UI/CLI).

- After a courier group: exactly one run of the orchestration group per successful full run of the courier group
  (couriers, feeds, domain tables, Stitch and the database build all done); the upstream run id is the run key,
  so a daemon restart never launches it twice. When the courier group's run fails, nothing runs and the
  orchestration group's recipients get an alert that says the upstream failed.
- On a schedule: a `dg.ScheduleDefinition` with the group's cron and `execution_timezone`. Dagster runs a local
  time that does not exist (spring forward) at the first minute after the gap, and a local time that happens
  twice (fall back) once, at its second occurrence (docs/operations.md, "Daylight-saving time").
- A disabled group never runs automatically: its sensor or schedule starts stopped and, if someone starts it,
  skips every tick while the catalog says disabled.
"""

from __future__ import annotations

import dagster as dg

from workflow_platform.alerts.model import Alert
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.automation.jobs import courier_group_job_name, orchestration_group_job_name
from workflow_platform.catalog.models import Catalog, OrchestrationGroup
from workflow_platform.tags import ORCHESTRATION_SCHEDULED_AT_TAG, RUN_TYPE_TAG, UPSTREAM_RUN_TAG


def is_complete_workflow_run(run: dg.DagsterRun) -> bool:
    """A full courier-group run whose selection included the database build (not an ingest-only subset)."""
    if run.tags.get(RUN_TYPE_TAG) != "full":
        return False
    if not run.asset_selection:  # None or empty: the job's whole selection
        return True
    return any(key.path[0] in ("stitch", "database") for key in run.asset_selection)


def _status(group: OrchestrationGroup) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if group.enabled else dg.DefaultSensorStatus.STOPPED


def after_courier_group_sensor(group: OrchestrationGroup, jobs: dict[str, dg.UnresolvedAssetJobDefinition]
                               ) -> dg.SensorDefinition:
    upstream = courier_group_job_name(group.run_after)

    @dg.run_status_sensor(
        name=f"orchestration_group__{group.name}__after_{group.run_after}",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[jobs[upstream]],
        request_job=jobs[orchestration_group_job_name(group.name)],
        default_status=_status(group),
        description=f"Runs orchestration group {group.name} once after each successful full run of courier group "
                    f"{group.run_after}.",
    )
    def _after(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if not group.enabled:
            return dg.SkipReason(f"orchestration group {group.name} is disabled in the catalog")
        if not is_complete_workflow_run(run):
            return dg.SkipReason(f"run {run.run_id} of {upstream} was not a full workflow run")
        return dg.RunRequest(run_key=run.run_id, tags={UPSTREAM_RUN_TAG: run.run_id})

    return _after


def upstream_failure_sensor(catalog: Catalog, jobs: dict[str, dg.UnresolvedAssetJobDefinition]
                            ) -> dg.SensorDefinition | None:
    """One sensor for every enabled group that runs after a courier group: alert when that upstream fails."""
    waiting = [g for g in catalog.orchestration_groups if g.run_after and g.enabled]
    if not waiting:
        return None
    upstream_jobs = sorted({courier_group_job_name(g.run_after) for g in waiting})

    @dg.run_failure_sensor(
        name="orchestration_groups__upstream_failed",
        monitored_jobs=[jobs[name] for name in upstream_jobs],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Tells the recipients of orchestration groups that did not run because the courier group they "
                    "run after failed.",
    )
    def _upstream_failed(context: dg.RunFailureSensorContext, alert_channels: AlertChannelsResource):
        run = context.dagster_run
        for group in waiting:
            if courier_group_job_name(group.run_after) != run.job_name:
                continue
            alert = Alert(
                kind="upstream_failed", severity="error", audience="orchestration_groups", group=group.name,
                run_id=run.run_id,
                cause=f"courier group {group.run_after} failed, so orchestration group {group.name} did not run",
                action=f"resolve the courier group's run; once it succeeds, {group.name} runs by itself (or run "
                       f"job {orchestration_group_job_name(group.name)} by hand)",
            )
            alert_channels.send(alert, catalog.alerts, context.log)

    return _upstream_failed


def group_schedule(group: OrchestrationGroup, jobs: dict[str, dg.UnresolvedAssetJobDefinition]
                   ) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=f"orchestration_group__{group.name}__schedule",
        cron_schedule=group.schedule,
        execution_timezone=group.timezone,
        target=jobs[orchestration_group_job_name(group.name)],
        default_status=dg.DefaultScheduleStatus.RUNNING if group.enabled else dg.DefaultScheduleStatus.STOPPED,
        description=f"Runs orchestration group {group.name} at '{group.schedule}' ({group.timezone}).",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        if not group.enabled:
            return dg.SkipReason(f"orchestration group {group.name} is disabled in the catalog")
        tick = context.scheduled_execution_time
        return dg.RunRequest(run_key=tick.isoformat() if tick else None,
                             tags={ORCHESTRATION_SCHEDULED_AT_TAG: tick.isoformat()} if tick else {})

    return _schedule


def build_orchestration_group_automation(catalog: Catalog, jobs: dict[str, dg.UnresolvedAssetJobDefinition]
                                         ) -> tuple[list[dg.SensorDefinition], list[dg.ScheduleDefinition]]:
    sensors = [after_courier_group_sensor(g, jobs) for g in catalog.orchestration_groups if g.run_after]
    if failure := upstream_failure_sensor(catalog, jobs):
        sensors.append(failure)
    schedules = [group_schedule(g, jobs) for g in catalog.orchestration_groups if g.schedule]
    return sensors, schedules
