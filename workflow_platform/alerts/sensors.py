"""Sensors that turn the workflow's runs into alerts."""

import dagster as dg

from workflow_platform.alerts.channels import AlertChannelsResource
from workflow_platform.alerts.dispatch import deliver
from workflow_platform.alerts.model import Alert
from workflow_platform.catalog.models import Catalog
from workflow_platform.tags import CAMPAIGN_TAG, COURIER_GROUP_TAG, ORCHESTRATION_GROUP_TAG


def audience_of(run: dg.DagsterRun) -> tuple[str, str]:
    """(audience, group) of a run, from the tags its job carries; other runs count as the courier groups'."""
    if group := run.tags.get(ORCHESTRATION_GROUP_TAG):
        return "orchestration_groups", group
    if campaign := run.tags.get(CAMPAIGN_TAG):
        return "campaigns", campaign
    return "courier_groups", run.tags.get(COURIER_GROUP_TAG) or f"(no group: job {run.job_name})"


def alert_run(context, channels: AlertChannelsResource, catalog: Catalog, kind: str, severity: str, cause: str,
              action: str) -> None:
    """Send one alert about the sensor context's run to its group's recipients."""
    run = context.dagster_run
    audience, group = audience_of(run)
    alert = Alert(kind=kind, severity=severity, audience=audience, group=group, run_id=run.run_id, cause=cause,
                  action=action)
    deliver(alert, catalog.alerts, channels.slack(), channels.email(), context.log)


def build_alert_sensors(catalog: Catalog) -> list[dg.SensorDefinition]:
    @dg.run_failure_sensor(
        name="workflow_failure_alerts",
        description="Alerts the group's recipients (Slack, email, log) once for every failed run of this location.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def workflow_failure_alerts(context: dg.RunFailureSensorContext, alert_channels: AlertChannelsResource):
        job = context.dagster_run.job_name
        steps = sorted({event.step_key for event in context.get_step_failure_events() if event.step_key})
        # step names only: step errors can quote file contents, and alerts never carry customer values
        alert_run(context, alert_channels, catalog, "failure", "error",
                  cause=f"run of job {job} failed" + (f" in step(s) {', '.join(steps)}" if steps else ""),
                  action="open the run: the failed step's error names the file, line or table; fix it, then "
                         "re-execute from failure (docs/operations.md lists the resolutions)")

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name="workflow_success_alerts",
        description="Alerts a courier group's recipients when its run succeeds, for groups with alert_on_success.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def workflow_success_alerts(context: dg.RunStatusSensorContext, alert_channels: AlertChannelsResource):
        run = context.dagster_run
        audience, group = audience_of(run)
        wanted = {g.name for g in catalog.courier_groups if g.alert_on_success}
        if audience != "courier_groups" or group not in wanted:
            return dg.SkipReason(f"no success alert for {run.job_name}")
        alert_run(context, alert_channels, catalog, "success", "info", cause=f"run of job {run.job_name} succeeded",
                  action="nothing to do")
        return None

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.CANCELED,
        name="workflow_cancel_alerts",
        description="Alerts the group's recipients when one of its runs is canceled.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def workflow_cancel_alerts(context: dg.RunStatusSensorContext, alert_channels: AlertChannelsResource):
        alert_run(context, alert_channels, catalog, "canceled", "warning",
                  cause=f"run of job {context.dagster_run.job_name} was canceled",
                  action="re-execute it when ready; steps that finished keep their results")

    return [workflow_failure_alerts, workflow_success_alerts, workflow_cancel_alerts]
