"""How orchestration groups start: after a courier group, on a schedule, or manually (their job, from the UI/CLI).

- After a courier group: exactly one run of the orchestration group per complete full run of the courier group
  (its load, then the build run of Stitch and the databases that follows it: automation/build.py); the run id of
  the run that completed it is the run key, so a daemon restart never launches it twice. When the courier group's
  load or build fails, nothing runs and the orchestration group's recipients get an alert that says the upstream
  failed.
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
from workflow_platform.automation.build import Builds, completes_workflow
from workflow_platform.automation.jobs import BUILD_JOB, courier_group_job_name, orchestration_group_job_name
from workflow_platform.catalog.models import Catalog, OrchestrationGroup
from workflow_platform.tags import COURIER_GROUP_TAG, ORCHESTRATION_SCHEDULED_AT_TAG, RUN_TYPE_TAG, UPSTREAM_RUN_TAG


def _status(group: OrchestrationGroup) -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if group.enabled else dg.DefaultSensorStatus.STOPPED


def _upstream_jobs(group_name: str, jobs: dict[str, dg.UnresolvedAssetJobDefinition], builds: Builds
                   ) -> list[dg.UnresolvedAssetJobDefinition]:
    """The jobs whose runs make up a courier group's workflow: its load, and the build when one follows."""
    return [jobs[courier_group_job_name(group_name)]] + ([jobs[BUILD_JOB]] if builds.get(group_name) else [])


def after_courier_group_sensor(group: OrchestrationGroup, jobs: dict[str, dg.UnresolvedAssetJobDefinition],
                               builds: Builds) -> dg.SensorDefinition:
    upstream = group.run_after

    @dg.run_status_sensor(
        name=f"orchestration_group__{group.name}__after_{group.run_after}",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=_upstream_jobs(upstream, jobs, builds),
        request_job=jobs[orchestration_group_job_name(group.name)],
        default_status=_status(group),
        description=f"Runs orchestration group {group.name} once after each successful full run of courier group "
                    f"{group.run_after} (its load, and the build run that follows it).",
    )
    def _after(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if not group.enabled:
            return dg.SkipReason(f"orchestration group {group.name} is disabled in the catalog")
        if run.tags.get(COURIER_GROUP_TAG) != upstream or run.tags.get(RUN_TYPE_TAG) != "full":
            return None  # another group's run, or not a full run: on to the next run in this tick
        if not completes_workflow(run, builds):
            return None  # a load that a build run follows, or a hand-picked subset
        return dg.RunRequest(run_key=run.run_id, tags={UPSTREAM_RUN_TAG: run.run_id})

    return _after


def upstream_failure_sensor(catalog: Catalog, jobs: dict[str, dg.UnresolvedAssetJobDefinition], builds: Builds
                            ) -> dg.SensorDefinition | None:
    """One sensor for every enabled group that runs after a courier group: alert when that upstream fails."""
    waiting = [g for g in catalog.orchestration_groups if g.run_after and g.enabled]
    if not waiting:
        return None
    upstream_jobs = {job.name: job for g in waiting for job in _upstream_jobs(g.run_after, jobs, builds)}

    @dg.run_failure_sensor(
        name="orchestration_groups__upstream_failed",
        monitored_jobs=[upstream_jobs[name] for name in sorted(upstream_jobs)],
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Tells the recipients of orchestration groups that did not run because the courier group they "
                    "run after failed.",
    )
    def _upstream_failed(context: dg.RunFailureSensorContext, alert_channels: AlertChannelsResource):
        run = context.dagster_run
        for group in waiting:
            if run.tags.get(COURIER_GROUP_TAG) != group.run_after:
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


def build_orchestration_group_automation(catalog: Catalog, jobs: dict[str, dg.UnresolvedAssetJobDefinition],
                                         builds: Builds
                                         ) -> tuple[list[dg.SensorDefinition], list[dg.ScheduleDefinition]]:
    sensors = [after_courier_group_sensor(g, jobs, builds) for g in catalog.orchestration_groups if g.run_after]
    if failure := upstream_failure_sensor(catalog, jobs, builds):
        sensors.append(failure)
    schedules = [group_schedule(g, jobs) for g in catalog.orchestration_groups if g.schedule]
    return sensors, schedules
