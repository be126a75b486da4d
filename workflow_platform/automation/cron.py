"""Cron ticks for courier-group sensors: the latest tick at or before a moment, in the group's time zone.

Standard 5-field cron (minute hour day-of-month month day-of-week, 0 or 7 = Sunday, names allowed for months
and weekdays); when both day fields are restricted a day matches either, as in cron. Expressions are checked
when the catalog loads (catalog/models.py).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from workflow_platform.catalog.models import CRON_FIELDS, MONTHS, WEEKDAYS


@lru_cache(maxsize=256)
def _fields(expr: str) -> tuple[tuple[frozenset[int], ...], bool, bool]:
    values = []
    parts = expr.lower().split()
    for index, ((_, low, high), field) in enumerate(zip(CRON_FIELDS, parts, strict=True)):
        names = MONTHS if index == 3 else WEEKDAYS if index == 4 else {}
        allowed: set[int] = set()
        for part in field.split(","):
            body, _, step = part.partition("/")
            if body == "*":
                start, end = low, high
            else:
                bounds = [int(n) if n.isdigit() else names[n] for n in body.split("-")]
                start, end = bounds[0], bounds[-1] if len(bounds) > 1 or step else bounds[0]
                if step and len(bounds) == 1:
                    end = high
            allowed.update(range(start, end + 1, int(step or 1)))
        if index == 4 and 7 in allowed:
            allowed.add(0)
        values.append(frozenset(allowed))
    return tuple(values), parts[2] == "*", parts[4] == "*"


def _day_matches(expr: str, day: dt.date) -> bool:
    (_, _, dom, month, dow), dom_any, dow_any = _fields(expr)
    if day.month not in month:
        return False
    dom_ok, dow_ok = day.day in dom, (day.isoweekday() % 7) in dow
    if dom_any or dow_any:
        return dom_ok and dow_ok
    return dom_ok or dow_ok


def previous_tick(expr: str, timezone: str, now: dt.datetime, horizon_days: int = 400) -> dt.datetime | None:
    """The latest tick at or before `now` (aware, in `timezone`), or None within the horizon."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone).replace(second=0, microsecond=0)
    (minutes, hours, *_), _, _ = _fields(expr)
    for back in range(horizon_days + 1):
        day = local.date() - dt.timedelta(days=back)
        if not _day_matches(expr, day):
            continue
        for hour in sorted(hours, reverse=True):
            for minute in sorted(minutes, reverse=True):
                tick = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=zone)
                if tick <= local:
                    return tick
    return None

