"""Sensors that turn the workflow's runs into alerts."""

from collections.abc import Callable

import dagster as dg

from workflow_platform.alerts.model import audience_of, run_alert, subscribers_of
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.catalog.models import Catalog


def build_alert_sensors(catalog: Catalog, last_run: Callable[[dg.DagsterRun], bool] = lambda run: True
                        ) -> list[dg.SensorDefinition]:
    """Failure, success and cancel alerts; a courier group's success alert waits for the last run of its workflow
    (`last_run`: false for a load that a build run follows)."""

    @dg.run_failure_sensor(
        name="workflow_failure_alerts",
        description="Alerts the group's recipients (Slack, email, log) once for every failed run of this location.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def workflow_failure_alerts(context: dg.RunFailureSensorContext, alert_channels: AlertChannelsResource):
        job = context.dagster_run.job_name
        steps = sorted({event.step_key for event in context.get_step_failure_events() if event.step_key})
        # step names only: step errors can quote file contents, and alerts never carry customer values
        alert = run_alert(context.dagster_run, "failure", "error",
                          cause=f"run of job {job} failed" + (f" in step(s) {', '.join(steps)}" if steps else ""),
                          action="open the run: the failed step's error names the file, line or table; fix it, "
                                 "then re-execute from failure (docs/operations.md lists the resolutions)")
        alert_channels.send(alert, catalog.alerts, context.log)

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="workflow_success_alerts",
        description="Alerts a courier group's recipients when its run succeeds, for groups with alert_on_success, "
                    "and a run's own subscribers (tag workflow_platform/notify) when that run succeeds.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def workflow_success_alerts(context: dg.RunStatusSensorContext, alert_channels: AlertChannelsResource):
        run = context.dagster_run
        audience, group = audience_of(run)
        wanted = {g.name for g in catalog.courier_groups if g.alert_on_success}
        group_wants = audience == "courier_groups" and group in wanted
        if not group_wants and not subscribers_of(run):
            return  # no success alert for this run: on to the next one in this tick
        if not last_run(run):
            return  # the group's workflow goes on after this run (its build run alerts)
        alert_channels.send(run_alert(run, "success", "info", cause=f"run of job {run.job_name} succeeded",
                                      action="nothing to do", subscribers_only=not group_wants),
                            catalog.alerts, context.log)
        return

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.CANCELED,
        name="workflow_cancel_alerts",
        description="Alerts the group's recipients when one of its runs is canceled.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def workflow_cancel_alerts(context: dg.RunStatusSensorContext, alert_channels: AlertChannelsResource):
        alert = run_alert(context.dagster_run, "canceled", "warning",
                          cause=f"run of job {context.dagster_run.job_name} was canceled",
                          action="re-execute it when ready; steps that finished keep their results")
        alert_channels.send(alert, catalog.alerts, context.log)

    return [workflow_failure_alerts, workflow_success_alerts, workflow_cancel_alerts]
