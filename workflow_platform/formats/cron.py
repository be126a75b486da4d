"""Cron as Dagster reads it: the catalog's check of a schedule, and the ticks of courier-group sensors.

Every cron of the catalog (courier groups, orchestration groups, campaigns) is checked with the validator
`dg.ScheduleDefinition` applies to `cron_schedule`, so the catalog accepts exactly what Dagster accepts: 5 fields
or an alias (`@daily`), `L` (last day of the month), `#` (`1#2`: the second Monday), wrapping ranges (`5-1`),
names (`jan`, `mon`), `?`; not seconds, years, `W` or `H`, nor the 30th or 31st of February alone.

Orchestration groups and campaigns are Dagster schedules, so the scheduler times them. A courier group's
schedule sensor asks `previous_tick`, which takes its tick from Dagster's own schedule iteration in the group's
time zone, so on daylight-saving days the sensor's ticks are the scheduler's: a time skipped when clocks go
forward fires at the end of the gap (02:30 -> 03:00), a time repeated when clocks go back fires once, at its
second occurrence, and an hourly schedule skips the missing hour and runs the repeated one twice.

`dagster._utils.schedules` is not public API: workflow_platform_tests/test_cron.py pins what is used here
(the validator against `dg.ScheduleDefinition`, the ticks against the iteration the scheduler daemon runs over a
year in several zones), so a Dagster upgrade that changes either fails there.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools

from dagster._utils.schedules import cron_string_iterator, is_valid_cron_schedule, reverse_cron_string_iterator
from dagster._vendored.croniter.croniter import CroniterBadDateError

# the aliases Dagster's (vendored) croniter accepts, as 5 fields
CRON_ALIASES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}
_FIELDS = [("minute", "0-59"), ("hour", "0-23"), ("day of month", "1-31, or L for the last day"),
           ("month", "1-12 or jan-dec"), ("day of week", "0-7 or sun-sat, 0 and 7 are Sunday; 1#2 is the second Monday")]


def is_valid_cron(expr: str) -> bool:
    """True when Dagster accepts `expr` as a schedule's cron (the check of `dg.ScheduleDefinition`)."""
    try:
        return is_valid_cron_schedule(expr)
    except Exception:  # noqa: BLE001 - ScheduleDefinition would raise it too: not accepted
        return False


@functools.lru_cache(maxsize=512)
def cron_problem(expr: str) -> str | None:
    """None when Dagster accepts `expr`; else why not, naming the field at fault when one is."""
    if is_valid_cron(expr):
        return None
    fields = expr.split()
    if " ".join(fields) != expr and is_valid_cron(" ".join(fields)):
        return "remove the spaces around it"
    if len(fields) == 1 and fields[0].startswith("@"):
        return f"unknown alias; use one of {', '.join(CRON_ALIASES)}"
    if len(fields) != 5:
        return (f"has {len(fields)} field{'s' * (len(fields) != 1)}; expected 5 (minute hour day-of-month month "
                f"day-of-week) such as '0 6 * * *', or an alias such as '@daily'")
    for index, ((name, allowed), field) in enumerate(zip(_FIELDS, fields, strict=True)):
        if not is_valid_cron(" ".join(field if i == index else "*" for i in range(5))):
            return f"{name} field {field!r} is not valid ({allowed})"
    if fields[3].lower() in ("2", "feb") and fields[2] in ("30", "31"):
        return f"Dagster refuses day {fields[2]} of February (it never occurs)"
    return "Dagster does not accept this combination of fields"


def previous_tick(expr: str, timezone: str, now: dt.datetime) -> dt.datetime | None:
    """The latest tick of `expr` at or before `now` (aware) that Dagster's scheduler gives a schedule in `timezone`,
    as Dagster gives it (aware, in `timezone`, `fold=1` for a repeated time: compare or shift it in UTC); None
    when the cron never fires (Dagster accepts `0 0 31 4 *`)."""
    end = now.timestamp()
    try:
        # Dagster's reverse iteration of a leap-day cron (`0 0 29 2 *`) starts at Feb 29 even from Feb 28: skip
        # any tick after `now` (the daemon's forward iteration never yields it early)
        return next((t for t in itertools.islice(reverse_cron_string_iterator(end, expr, timezone), 4)
                     if t.timestamp() <= end), None)
    except CroniterBadDateError:  # no matching date within croniter's search (e.g. the 31st of April)
        return None


def longest_gap(expr: str, timezone: str, ticks: int = 60) -> dt.timedelta | None:
    """The longest time between two consecutive ticks of `expr` in `timezone` among its first `ticks` ticks after
    2026-01-05 (a Monday): a day for a daily schedule, three days for a weekday one, 31 days for a monthly one;
    None when it does not tick twice. (Callers cache: presentation.py keeps one policy per schedule.)"""
    start = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()
    try:
        stamps = [t.timestamp() for t in itertools.islice(cron_string_iterator(start, expr, timezone), ticks)]
    except CroniterBadDateError:
        return None
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    return dt.timedelta(seconds=max(gaps)) if gaps else None
