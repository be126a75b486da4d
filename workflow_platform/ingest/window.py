"""Which file dates a run loads: from run tags (manual runs, sensors) or the courier's look-back."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from workflow_platform.ingest.couriers.landing import date_range
from workflow_platform.tags import DATE_FROM_TAG, DATE_TO_TAG, SCHEDULED_AT_TAG, SINCE_TAG


def window_tags(start: dt.date, end: dt.date) -> dict[str, str]:
    return {DATE_FROM_TAG: start.isoformat(), DATE_TO_TAG: end.isoformat()}


def default_window(now: dt.datetime, look_back_seconds: int) -> tuple[dt.date, dt.date]:
    """Load data older than the run: the days from (now - look_back) up to yesterday."""
    end = now.date() - dt.timedelta(days=1)
    start = min((now - dt.timedelta(seconds=look_back_seconds)).date(), end)
    return start, end


def scheduled_window(tick: dt.datetime, look_back_seconds: int, since: dt.datetime | None = None,
                     zone: str = "UTC", past_day_only: bool = False) -> tuple[dt.date, dt.date]:
    """The days a scheduled tick loads: its look-back, widened to every day since the previous tick (unless
    `past_day_only`), as dates in `zone` (UTC unless the group dates files in its own time zone)."""
    local = ZoneInfo(zone)
    start, end = default_window(tick.astimezone(local), look_back_seconds)
    if since is not None and not past_day_only:
        start = min(start, since.astimezone(local).date())
    return start, end


def run_days(tags: dict[str, str], look_back_seconds: int, now: dt.datetime | None = None, zone: str = "UTC",
             past_day_only: bool = False) -> list[dt.date]:
    """The file dates a courier loads in a run: the run's explicit dates, else its tick's window, else the
    look-back from now (dates in `zone`)."""
    if SCHEDULED_AT_TAG in tags and DATE_FROM_TAG not in tags:
        since = dt.datetime.fromisoformat(tags[SINCE_TAG]) if SINCE_TAG in tags else None
        return date_range(*scheduled_window(dt.datetime.fromisoformat(tags[SCHEDULED_AT_TAG]), look_back_seconds,
                                             since, zone, past_day_only))
    if DATE_FROM_TAG in tags:
        start = dt.date.fromisoformat(tags[DATE_FROM_TAG])
        end = dt.date.fromisoformat(tags.get(DATE_TO_TAG, tags[DATE_FROM_TAG]))
        if end < start:
            raise ValueError(f"run tags give an empty date range {start} .. {end}")
    else:
        start, end = default_window((now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(zone)), look_back_seconds)
    return date_range(start, end)
