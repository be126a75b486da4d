"""The workflow alert: what happened, to which group, how bad, why, and what to do. Never customer values."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import dagster as dg

from workflow_platform.tags import CAMPAIGN_TAG, COURIER_GROUP_TAG, NOTIFY_TAG, ORCHESTRATION_GROUP_TAG

AlertKind = Literal["missing_files", "failure", "success", "runtime_exceeded", "freshness", "canceled", "late_file",
                    "id_churn", "giant_cluster", "upstream_failed", "query_threshold", "file_refused",
                    "delivery_failed"]
Audience = Literal["courier_groups", "orchestration_groups", "campaigns"]

KIND_TITLES = {
    "missing_files": "files missing", "failure": "run failed", "success": "run succeeded",
    "runtime_exceeded": "runtime over threshold", "freshness": "data not fresh", "canceled": "run canceled",
    "late_file": "file arrived late", "id_churn": "customer id churn",
    "giant_cluster": "giant Stitch cluster",
    "upstream_failed": "did not run: upstream failed", "query_threshold": "query row count outside its threshold",
    "file_refused": "file refused", "delivery_failed": "alert not delivered",
}
AUDIENCE_TITLES = {"courier_groups": "courier group", "orchestration_groups": "orchestration group",
                   "campaigns": "campaign"}


def ui_url() -> str:
    """Where the Dagster UI is reached, for links in alerts (`WORKFLOW_PLATFORM_UI_URL`)."""
    return os.environ.get("WORKFLOW_PLATFORM_UI_URL", "http://127.0.0.1:3000").rstrip("/")


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    severity: Literal["info", "warning", "error"]
    audience: Audience
    group: str
    cause: str  # counts, file and table names only: never customer values
    action: str  # what to do about it
    run_id: str | None = None
    run_key: str | None = None  # a run the sensor requested (its id is not known yet): linked by its run key
    subscribers: tuple[str, ...] = ()  # the run's own recipients (tag workflow_platform/notify): emails, #channels
    subscribers_only: bool = False  # for them alone (a success alert the group's recipients did not ask for)

    @property
    def run_url(self) -> str | None:
        if self.run_id:
            return f"{ui_url()}/runs/{self.run_id}"
        return f"{ui_url()}/runs?q[]=tag:dagster/run_key={quote(self.run_key, safe='')}" if self.run_key else None

    @property
    def title(self) -> str:
        return f"[{self.severity.upper()}] {AUDIENCE_TITLES[self.audience]} {self.group}: {KIND_TITLES[self.kind]}"

    @property
    def text(self) -> str:
        lines = [self.title, f"Cause: {self.cause}", f"What to do: {self.action}"]
        if self.run_url:
            lines.append(f"Run: {self.run_url}" if self.run_id else f"Runs: {self.run_url}")
        return "\n".join(lines)

    @property
    def key(self) -> str:
        """Identifies the alert for de-duplication across sensor ticks and restarts."""
        digest = hashlib.sha256(self.cause.encode()).hexdigest()[:12]
        return f"{self.kind}:{self.audience}:{self.group}:{self.run_id or '-'}:{digest}"


def audience_of(run: dg.DagsterRun) -> tuple[str, str]:
    """(audience, group) of a run, from the tags its job carries; other runs count as the courier groups'."""
    if group := run.tags.get(ORCHESTRATION_GROUP_TAG):
        return "orchestration_groups", group
    if campaign := run.tags.get(CAMPAIGN_TAG):
        return "campaigns", campaign
    return "courier_groups", run.tags.get(COURIER_GROUP_TAG) or f"(no group: job {run.job_name})"


def run_alert(run: dg.DagsterRun, kind: AlertKind, severity: str, cause: str, action: str,
              subscribers_only: bool = False) -> Alert:
    """An alert about `run`, addressed to the group its job belongs to and to the run's own subscribers."""
    audience, group = audience_of(run)
    return Alert(kind, severity, audience, group, cause=cause, action=action, run_id=run.run_id,
                 subscribers=subscribers_of(run), subscribers_only=subscribers_only)


SLACK_CHANNEL = re.compile(r"^#[a-z0-9][a-z0-9_-]*$")
EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


def parse_subscribers(value: str) -> tuple[str, ...]:
    """`a@acme.example, #ops`: the recipients a run names; ValueError names one that is neither."""
    items = tuple(dict.fromkeys(item.strip() for item in value.split(",") if item.strip()))
    bad = [item for item in items if not (SLACK_CHANNEL.match(item) or EMAIL.match(item))]
    if bad:
        raise ValueError(f"{', '.join(map(repr, bad))}: a run's alert subscriber is an email address or a Slack "
                         "#channel")
    return items


def subscribers_of(run: dg.DagsterRun) -> tuple[str, ...]:
    """The run's subscribers (tag workflow_platform/notify); malformed entries are left out (the tag may come
    from the UI's launchpad, which checks nothing)."""
    items = [item.strip() for item in run.tags.get(NOTIFY_TAG, "").split(",")]
    return tuple(dict.fromkeys(i for i in items if SLACK_CHANNEL.match(i) or EMAIL.match(i)))
