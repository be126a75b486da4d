"""Which file dates a run loads: from run tags (manual runs, sensors) or the courier's look-back."""

from __future__ import annotations

import datetime as dt

from workflow_platform.couriers.landing import date_range

DATE_FROM_TAG = "workflow_platform/date_from"  # inclusive, YYYY-MM-DD
DATE_TO_TAG = "workflow_platform/date_to"  # inclusive, YYYY-MM-DD
SKIP_MISSING_TAG = "workflow_platform/skip_missing"  # "true": a missing required file only warns
ERROR_THRESHOLD_TAG = "workflow_platform/error_threshold"  # percent: overrides every feed's threshold, one run


def window_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    return {DATE_FROM_TAG: start.isoformat(), DATE_TO_TAG: end.isoformat()}


def default_window(now: dt.datetime, look_back_seconds: int) -> tuple[dt.date, dt.date]:
    """Load data older than the run: the days from (now - look_back) up to yesterday."""
    end = now.date() - dt.timedelta(days=1)
    start = min((now - dt.timedelta(seconds=look_back_seconds)).date(), end)
    return start, end


def run_days(tags: dict[str, str], look_back_seconds: int, now: dt.datetime | None = None) -> list[dt.date]:
    if DATE_FROM_TAG in tags:
        start = dt.date.fromisoformat(tags[DATE_FROM_TAG])
        end = dt.date.fromisoformat(tags.get(DATE_TO_TAG, tags[DATE_FROM_TAG]))
        if end < start:
            raise ValueError(f"run tags give an empty date range {start} .. {end}")
    else:
        start, end = default_window(now or dt.datetime.now(dt.UTC), look_back_seconds)
    return date_range(start, end)
