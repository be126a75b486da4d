"""When campaigns send: once (at `start`, or as soon as possible without one) or daily/weekly from `start`
until `end_date` or `end_after` sends. Times are local to the campaign's time zone (Dagster's schedule rules
apply on daylight-saving days, docs/operations.md). An inactive campaign never sends automatically."""

from __future__ import annotations

import zoneinfo

import dagster as dg

from workflow_platform.automation.jobs import campaign_job_name
from workflow_platform.catalog.models import Campaign, Catalog
from workflow_platform.tags import SCHEDULE_NAME_TAG, SEND_NUMBER_TAG

COUNTED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
           dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.SUCCESS]  # failed or canceled sends do not count


def campaign_cron(campaign: Campaign) -> str:
    start = campaign.start
    if campaign.recurrence == "daily":
        return f"{start.minute} {start.hour} * * *"
    if campaign.recurrence == "weekly":
        return f"{start.minute} {start.hour} * * {(start.weekday() + 1) % 7}"
    return f"{start.minute} {start.hour} {start.day} {start.month} *"  # once: yearly, the tick of start's year only


def schedule_name(campaign: Campaign) -> str:
    return f"campaign__{campaign.name}__schedule"


def decide_scheduled_send(campaign: Campaign, context: dg.ScheduleEvaluationContext):
    """RunRequest for this tick, or SkipReason (inactive, before start, after the end, or enough sends)."""
    if not campaign.active:
        return dg.SkipReason(f"campaign {campaign.name} is inactive in the catalog")
    tick = context.scheduled_execution_time
    zone = zoneinfo.ZoneInfo(campaign.timezone)
    local = (tick.astimezone(zone) if tick.tzinfo else tick).replace(tzinfo=None) if tick else None
    if local is None:
        return dg.SkipReason("no scheduled time")
    if local.date() < campaign.start.date() or (campaign.recurrence == "once" and local.year != campaign.start.year):
        return dg.SkipReason(f"campaign {campaign.name} starts {campaign.start:%Y-%m-%d %H:%M}")
    if campaign.end_date and local.date() > campaign.end_date:
        return dg.SkipReason(f"campaign {campaign.name} ended on {campaign.end_date}")
    sent = context.instance.get_runs_count(dg.RunsFilter(
        job_name=campaign_job_name(campaign.name), statuses=COUNTED,
        tags={SCHEDULE_NAME_TAG: schedule_name(campaign)},
    ))
    if campaign.end_after and sent >= campaign.end_after:
        return dg.SkipReason(f"campaign {campaign.name} has sent {sent} of {campaign.end_after} times")
    if campaign.recurrence == "once" and sent:
        return dg.SkipReason(f"campaign {campaign.name} has already sent")
    return dg.RunRequest(run_key=tick.isoformat(), tags={SEND_NUMBER_TAG: str(sent + 1)})


def campaign_schedule(campaign: Campaign) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=schedule_name(campaign),
        cron_schedule=campaign_cron(campaign),
        execution_timezone=campaign.timezone,
        job_name=campaign_job_name(campaign.name),
        default_status=dg.DefaultScheduleStatus.RUNNING if campaign.active else dg.DefaultScheduleStatus.STOPPED,
        description=f"Campaign {campaign.name}: {campaign.recurrence} from {campaign.start:%Y-%m-%d %H:%M} "
                    f"({campaign.timezone})",
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        return decide_scheduled_send(campaign, context)

    return _schedule


def campaign_asap_sensor(campaign: Campaign) -> dg.SensorDefinition:
    """A one-time campaign without a start: one run as soon as the daemon sees it (the run key makes it once)."""

    @dg.sensor(
        name=f"campaign__{campaign.name}__asap",
        job_name=campaign_job_name(campaign.name),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING if campaign.active else dg.DefaultSensorStatus.STOPPED,
        description=f"Sends one-time campaign {campaign.name} once, as soon as possible.",
    )
    def _asap(context: dg.SensorEvaluationContext):
        if not campaign.active:
            return dg.SkipReason(f"campaign {campaign.name} is inactive in the catalog")
        return dg.RunRequest(run_key=f"{campaign.name}:once", tags={SEND_NUMBER_TAG: "1"})

    return _asap


def build_campaign_automation(catalog: Catalog) -> tuple[list[dg.SensorDefinition], list[dg.ScheduleDefinition]]:
    sensors = [campaign_asap_sensor(c) for c in catalog.campaigns if c.recurrence == "once" and c.start is None]
    schedules = [campaign_schedule(c) for c in catalog.campaigns if c.start is not None]
    return sensors, schedules
