"""How orchestration groups start: after a courier group, on a schedule, or manually (their job, from the UI/CLI).

- After a courier group: exactly one run of the orchestration group per complete full run of the courier group
  (its load, then the build run of Stitch and the databases that follows it: automation/build.py); the run id of
  the run that completed it is the run key, so a daemon restart never launches it twice. When the courier group's
  load or build fails, nothing runs and the orchestration group's recipients get an alert that says the upstream
  failed.
- On a schedule: a `dg.ScheduleDefinition` with the group's cron and `execution_timezone`; with
  `when_new_data_from` (Amperity's courier group constraint) a tick sends only when that courier group completed
  a run that loaded new rows since the group's last send (and at least `offset` before the tick). Dagster runs a local
  time that does not exist (spring forward) at the first minute after the gap, and a local time that happens
  twice (fall back) once, at its second occurrence (docs/operations.md, "Daylight-saving time").
- A disabled group never runs automatically: its sensor or schedule starts stopped and, if someone starts it,
  skips every tick while the catalog says disabled.
"""

from __future__ import annotations

import datetime as dt

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
                action=f"resolve the courier group's run; once it succeeds, {group.name} runs by itself (or "
                       f"`workflow-platform launch --orchestration-group {group.name}`, or job "
                       f"{orchestration_group_job_name(group.name)} from the UI)",
            )
            alert_channels.send(alert, catalog.alerts, context.log)

    return _upstream_failed


def group_schedule(group: OrchestrationGroup, jobs: dict[str, dg.UnresolvedAssetJobDefinition], builds: Builds
                   ) -> dg.ScheduleDefinition:
    constraint = (f" Sends only when courier group {group.when_new_data_from} completed a run that loaded new rows "
                  f"since the last send" + (f", at least {group.offset} before the tick" if group.offset_seconds else "")
                  + "." if group.when_new_data_from else "")

    @dg.schedule(
        name=f"orchestration_group__{group.name}__schedule",
        cron_schedule=group.schedule,
        execution_timezone=group.timezone,
        target=jobs[orchestration_group_job_name(group.name)],
        default_status=dg.DefaultScheduleStatus.RUNNING if group.enabled else dg.DefaultScheduleStatus.STOPPED,
        description=f"Runs orchestration group {group.name} at '{group.schedule}' ({group.timezone}).{constraint}",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        if not group.enabled:
            return dg.SkipReason(f"orchestration group {group.name} is disabled in the catalog")
        tick = context.scheduled_execution_time
        tags = {ORCHESTRATION_SCHEDULED_AT_TAG: tick.isoformat()} if tick else {}
        if group.when_new_data_from:
            found, why = new_data(context.instance, group, builds, tick or dt.datetime.now(dt.UTC))
            if found is None:
                return dg.SkipReason(why)
            tags[UPSTREAM_RUN_TAG] = found
        return dg.RunRequest(run_key=tick.isoformat() if tick else None, tags=tags)

    return _schedule


def new_data(instance: dg.DagsterInstance, group: OrchestrationGroup, builds: Builds, tick: dt.datetime
             ) -> tuple[str | None, str]:
    """The constraint of a scheduled group (`when_new_data_from`): the id of the newest run of that courier group
    that loaded new rows (inserted or updated in a domain table) and completed its workflow (its build run too)
    after this group's last successful send started and at least `offset` before `tick`; else None, and why."""
    upstream = group.when_new_data_from
    cutoff = tick.timestamp() - group.offset_seconds
    sends = instance.get_run_records(
        filters=dg.RunsFilter(job_name=orchestration_group_job_name(group.name), statuses=[dg.DagsterRunStatus.SUCCESS]),
        limit=1)
    since = (sends[0].start_time or 0.0) if sends else 0.0
    loads = instance.get_run_records(
        filters=dg.RunsFilter(job_name=courier_group_job_name(upstream), statuses=[dg.DagsterRunStatus.SUCCESS],
                              tags={COURIER_GROUP_TAG: upstream},
                              updated_after=dt.datetime.fromtimestamp(since, dt.UTC) if since else None),
        limit=100)
    too_recent = False
    for record in loads:  # newest first
        completed = _workflow_completed_at(instance, record, builds)
        if completed is None or completed <= since:
            continue
        if completed > cutoff:
            too_recent = too_recent or _changed_rows(instance, record.dagster_run.run_id)
            continue
        if _changed_rows(instance, record.dagster_run.run_id):
            return record.dagster_run.run_id, ""
    last = (f"since the last send ({dt.datetime.fromtimestamp(since, dt.UTC):%Y-%m-%d %H:%M} UTC)" if sends
            else "yet")
    if too_recent:
        return None, (f"courier group {upstream} loaded new rows less than {group.offset} (offset) before this tick; "
                      "the next tick sends them")
    return None, f"no new data: courier group {upstream} has completed no run that loaded new rows {last}"


def _workflow_completed_at(instance: dg.DagsterInstance, record: dg.RunRecord, builds: Builds) -> float | None:
    """When the courier group's workflow begun by this load run ended: the load itself when no build follows it,
    else its successful build run (None while there is none)."""
    if completes_workflow(record.dagster_run, builds):
        return record.end_time
    follow = instance.get_run_records(
        filters=dg.RunsFilter(job_name=BUILD_JOB, statuses=[dg.DagsterRunStatus.SUCCESS],
                              tags={UPSTREAM_RUN_TAG: record.dagster_run.run_id}), limit=1)
    return follow[0].end_time if follow else None


def _changed_rows(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a load run inserted or updated rows in some domain table."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.asset_materialization
        metadata = materialization.metadata if materialization else {}
        changed = [metadata[name].value for name in ("rows_inserted", "rows_updated") if name in metadata]
        if any(isinstance(n, int) and n > 0 for n in changed):
            return True
    return False


def build_orchestration_group_automation(catalog: Catalog, jobs: dict[str, dg.UnresolvedAssetJobDefinition],
                                         builds: Builds
                                         ) -> tuple[list[dg.SensorDefinition], list[dg.ScheduleDefinition]]:
    sensors = [after_courier_group_sensor(g, jobs, builds) for g in catalog.orchestration_groups if g.run_after]
    if failure := upstream_failure_sensor(catalog, jobs, builds):
        sensors.append(failure)
    schedules = [group_schedule(g, jobs, builds) for g in catalog.orchestration_groups if g.schedule]
    return sensors, schedules
