"""Sensors that turn the workflow's runs into alerts."""

import dagster as dg

from workflow_platform.alerts.channels import AlertChannelsResource
from workflow_platform.alerts.dispatch import deliver
from workflow_platform.alerts.model import Alert
from workflow_platform.catalog.models import Catalog


def audience_of(run: dg.DagsterRun) -> tuple[str, str]:
    """(audience, group) of a run, from the tags its job carries; other runs count as the courier groups'."""
    if group := run.tags.get("orchestration_group"):
        return "orchestration_groups", group
    return "courier_groups", run.tags.get("courier_group") or f"(no group: job {run.job_name})"


def build_alert_sensors(catalog: Catalog) -> list[dg.SensorDefinition]:
    @dg.run_failure_sensor(
        name="workflow_failure_alerts",
        description="Alerts the group's recipients (Slack, email, log) once for every failed run of this location.",
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def workflow_failure_alerts(context: dg.RunFailureSensorContext, alert_channels: AlertChannelsResource):
        run = context.dagster_run
        audience, group = audience_of(run)
        steps = sorted({event.step_key for event in context.get_step_failure_events() if event.step_key})
        alert = Alert(
            kind="failure", severity="error", audience=audience, group=group, run_id=run.run_id,
            # step names only: step errors can quote file contents, and alerts never carry customer values
            cause=f"run of job {run.job_name} failed" + (f" in step(s) {', '.join(steps)}" if steps else ""),
            action="open the run: the failed step's error names the file, line or table; fix it, then re-execute "
                   "from failure (docs/operations.md lists the resolutions)",
        )
        deliver(alert, catalog.alerts, alert_channels.slack(), alert_channels.email(), context.log)

    return [workflow_failure_alerts]
