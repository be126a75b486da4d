"""Catalog sections that run things: courier groups, orchestration groups and their alerts."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from workflow_platform.catalog.fields import Identifier, Model, Owners, TimeZone

# --------------------------------------------------------------------------- durations and schedules

DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>seconds?|minutes?|hours?|days?|weeks?|s|m|h|d|w)\s*$")


def duration_seconds(value: str) -> int:
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"invalid duration {value!r}; expected e.g. '30 minutes', '2 hours', '1 day'")
    unit = match.group("unit")[0]
    return int(match.group("n")) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]


def check_duration(value: str) -> str:
    duration_seconds(value)
    return value


def check_cron(value: str) -> str:
    """A cron Dagster accepts for a schedule (the same check as `dg.ScheduleDefinition`; formats/cron.py)."""
    # deferred: imports Dagster (~1 s); `workflow_platform validate` needs it only for a catalog with a cron
    from workflow_platform.formats.cron import cron_problem

    if problem := cron_problem(value):
        raise ValueError(f"invalid cron schedule {value!r}: {problem}")
    return value


Duration = Annotated[str, AfterValidator(check_duration)]  # e.g. '30 minutes', '2 hours', '1 day'
CronSchedule = Annotated[str, AfterValidator(check_cron)]


# --------------------------------------------------------------------------- groups


class GroupCourier(Model):
    courier: Identifier
    wait: Duration = "0 seconds"
    look_back: Duration = "1 day"
    notify_when_missing: bool = True
    stop_when_missing: bool = False

    @property
    def wait_seconds(self) -> int:
        return duration_seconds(self.wait)

    @property
    def look_back_seconds(self) -> int:
        return duration_seconds(self.look_back)


class CourierGroup(Model):
    """Couriers that run together, on a schedule or manually."""

    name: Identifier
    couriers: list[GroupCourier] = Field(min_length=1)
    description: str = ""
    schedule: CronSchedule | None = None
    timezone: TimeZone = "UTC"
    active: bool = True
    run_type: Literal["full", "refresh", "source"] = "full"
    stitch_mode: Literal["normal", "force_refresh", "incremental"] | None = Field(
        None, description="the Stitch mode of the build after this group's runs (default: the catalog's stitch.mode)")
    file_dates_in_timezone: bool = Field(False, description="compute the days of a scheduled run's window in the "
                                                            "group's time zone instead of UTC")
    past_day_only: bool = Field(False, description="a scheduled run loads its look-back only, not every day since "
                                                   "the previous tick")
    runtime_threshold: Duration | None = Field(None, description="warn when a run exceeds this, e.g. '2 hours'")
    alert_on_success: bool = Field(False, description="also alert the recipients when a run succeeds")
    owners: Owners = Field(default_factory=list, description="owners of the group's assets: emails or team:<name>")

    @field_validator("couriers", mode="before")
    @classmethod
    def _names(cls, value):
        if not isinstance(value, list):
            return value  # pydantic reports "Input should be a valid list"
        return [{"courier": v} if isinstance(v, str) else v for v in value]

    @property
    def date_zone(self) -> str:
        """The time zone of the file dates of its runs' windows."""
        return self.timezone if self.file_dates_in_timezone else "UTC"


class OrchestrationGroup(Model):
    """Orchestrations that run as a unit: after a courier group, on a schedule, or manually."""

    name: Identifier
    orchestrations: list[Identifier] = Field(min_length=1)
    description: str = ""
    enabled: bool = True
    run_after: Identifier | None = Field(None, description="courier group whose success triggers this group")
    schedule: CronSchedule | None = None
    timezone: TimeZone = "UTC"
    when_new_data_from: Identifier | None = Field(
        None, description="scheduled groups: a courier group; a tick sends only if that group completed a run that "
                          "loaded new rows since this group's last send (Amperity's courier group constraint)")
    offset: Duration = Field("0 minutes", description="with when_new_data_from: the courier group's run must have "
                                                      "completed at least this long before the tick")
    owners: Owners = Field(default_factory=list, description="owners of the group's assets: emails or team:<name>")

    @model_validator(mode="after")
    def _one_trigger(self) -> OrchestrationGroup:
        if self.run_after and self.schedule:
            raise ValueError("choose one run option: run_after or schedule, not both")
        if self.when_new_data_from and not self.schedule:
            raise ValueError("when_new_data_from constrains a schedule: set schedule too (run_after already waits "
                             "for its courier group)")
        if duration_seconds(self.offset) and not self.when_new_data_from:
            raise ValueError("offset applies to when_new_data_from")
        return self

    @property
    def offset_seconds(self) -> int:
        return duration_seconds(self.offset)


# --------------------------------------------------------------------------- alerts


class Recipients(Model):
    email: list[str] = Field(default_factory=list)
    slack: list[str] = Field(default_factory=list)

    @field_validator("slack")
    @classmethod
    def _channels(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not re.match(r"^#[a-z0-9][a-z0-9_-]*$", channel):
                raise ValueError(f"slack channel {channel!r} must look like '#data-alerts'")
        return value

    @field_validator("email")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", address):
                raise ValueError(f"invalid email address {address!r}")
        return value


class Alerts(Model):
    allowed_email_domains: list[str] = Field(default_factory=list)
    courier_groups: Recipients = Field(default_factory=Recipients)
    orchestration_groups: Recipients = Field(default_factory=Recipients)
    campaigns: Recipients = Field(default_factory=Recipients)

    @model_validator(mode="after")
    def _domains(self) -> Alerts:
        if self.allowed_email_domains:
            for recipients in (self.courier_groups, self.orchestration_groups, self.campaigns):
                for address in recipients.email:
                    if address.rsplit("@", 1)[1].lower() not in self.allowed_email_domains:
                        raise ValueError(f"email {address!r} is outside allowed_email_domains")
        return self
