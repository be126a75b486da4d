"""The tags a manual run carries (what `workflow-platform run` and `launch` set, and what a user adds in the UI's
launchpad): its days, and the overrides of that one run (docs/operations.md, "Which days a run loads")."""

from __future__ import annotations

import datetime as dt

from workflow_platform.alerts.model import parse_subscribers
from workflow_platform.catalog.models import Catalog
from workflow_platform.ingest.window import window_tags
from workflow_platform.tags import (
    ALL_DATA_TAG,
    ERROR_THRESHOLD_TAG,
    NOTIFY_TAG,
    REFRESH_MODE_TAG,
    RUN_TYPE_TAG,
    SCHEDULED_AT_TAG,
    SINCE_TAG,
    SKIP_COURIERS_TAG,
    SKIP_MISSING_TAG,
)

RUN_TYPES = ("full", "refresh", "source")


def run_tags(catalog: Catalog, window: tuple[dt.date, dt.date] | None = None, *, skip_missing: bool = False,
             error_threshold: float | None = None, skip_couriers: list[str] | None = None,
             refresh_mode: str | None = None, all_data: bool = False, run_type: str | None = None,
             scheduled_at: dt.datetime | None = None, since: dt.datetime | None = None,
             notify: str | None = None) -> dict[str, str]:
    """The tags of one manual run; ValueError names an option that cannot be (an unknown courier, all data with
    days, a run type that is not full, refresh or source, a subscriber that is neither an email nor a #channel). `scheduled_at` (aware) and `since` (the tick before
    it) make the run load that tick's window, as the schedule sensor's run does."""
    tags = window_tags(*window) if window else {}
    if sum(bool(x) for x in (window, all_data, scheduled_at)) > 1:
        raise ValueError("give one of: days (--date, --from/--to), all data (--all-data), a tick (--scheduled-at)")
    if all_data:
        tags[ALL_DATA_TAG] = "true"
    if scheduled_at:
        if scheduled_at.tzinfo is None:
            raise ValueError("give the tick with its UTC offset, as an alert prints it (2026-12-07T06:00:00-08:00)")
        tags[SCHEDULED_AT_TAG] = scheduled_at.isoformat()
        if since:
            tags[SINCE_TAG] = since.isoformat()
    if skip_missing:
        tags[SKIP_MISSING_TAG] = "true"
    if error_threshold is not None:
        tags[ERROR_THRESHOLD_TAG] = str(error_threshold)
    if skip_couriers:
        unknown = sorted(set(skip_couriers) - {c.name for c in catalog.couriers})
        if unknown:
            raise ValueError(f"unknown courier(s) to skip: {', '.join(unknown)}")
        tags[SKIP_COURIERS_TAG] = ",".join(skip_couriers)
    if refresh_mode:
        tags[REFRESH_MODE_TAG] = refresh_mode
    if notify:
        tags[NOTIFY_TAG] = ",".join(parse_subscribers(notify))
    if run_type:
        if run_type not in RUN_TYPES:
            raise ValueError(f"run type {run_type!r}: use full, refresh or source")
        tags[RUN_TYPE_TAG] = run_type
    return tags
