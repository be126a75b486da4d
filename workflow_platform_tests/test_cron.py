"""Cron as Dagster reads it: courier-group sensor ticks equal the ticks Dagster's scheduler gives a schedule of the
same cron and time zone, over a year and across daylight-saving changes both ways; the catalog accepts exactly
the crons `dg.ScheduleDefinition` accepts.

The reference is `schedule_execution_time_iterator`, the forward iteration the scheduler daemon runs
(`RemoteSchedule.execution_time_iterator`, pinned below). Measure the agreement (and that of another cron.py,
e.g. in an export of an older commit, with PYTHONPATH pointing there):

    .venv/bin/python workflow_platform_tests/test_cron.py
"""

from __future__ import annotations

import bisect
import datetime as dt
import inspect
import time
import warnings
from functools import cache
from itertools import takewhile
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator  # what the daemon iterates (no public API)
from pydantic import ValidationError

from workflow_platform.catalog.loader import CatalogInvalid
from workflow_platform.catalog.models import CourierGroup, OrchestrationGroup
from workflow_platform.formats import cron  # attributes read in the tests, so an older cron.py fails per test

UTC = dt.UTC
YEAR = 2026
ZONES = ["America/Los_Angeles", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "UTC"]
# cron -> (more than its longest gap between ticks: the reference iteration starts this long before a sample,
#          every how many samples it is checked: Dagster times L and ranges with croniter, ten times slower)
EXPRESSIONS = {
    "0 * * * *": (dt.timedelta(hours=2), 1),  # hourly: skips the missing hour, runs the repeated one twice
    "*/15 * * * *": (dt.timedelta(hours=2), 1),
    "30 2 * * *": (dt.timedelta(days=2), 1),  # in the spring-forward gap everywhere; repeated in Berlin and Sydney
    "0 1 * * *": (dt.timedelta(days=2), 1),  # repeated in Los Angeles (01:00-02:00 happens twice)
    "0 9 * * 1-5": (dt.timedelta(days=4), 1),  # weekdays
    "5 2 * * 0": (dt.timedelta(days=8), 1),  # weekly, on the Sundays of the changes, inside the gap
    "@daily": (dt.timedelta(days=2), 1),
    "0 6 L * *": (dt.timedelta(days=32), 3),  # the last day of the month
    "0 22-2 * * *": (dt.timedelta(days=1), 2),  # a range through midnight and the changing hours
}
WINDOW = dt.timedelta(hours=25)  # sampled around each daylight-saving change
STEP = dt.timedelta(minutes=15)  # lands exactly on every tick of the expressions above but "5 2 * * 0"


@cache
def zone_changes(zone: str) -> list[dt.datetime]:
    """The UTC instants of `YEAR` at which `zone` changes its offset (its daylight-saving changes)."""
    tz, changes = ZoneInfo(zone), []
    hour = dt.datetime(YEAR, 1, 1, tzinfo=UTC)
    while hour.year == YEAR:
        if (hour + dt.timedelta(hours=1)).astimezone(tz).utcoffset() != hour.astimezone(tz).utcoffset():
            changes.append(hour + dt.timedelta(hours=1))
        hour += dt.timedelta(hours=1)
    return changes


@cache
def sample_groups(zone: str) -> list[list[dt.datetime]]:
    """Groups of sample times, each checked against one reference iteration: every STEP within WINDOW of each of
    the zone's changes (a zone without any: around Los Angeles' spring change), and one time every other day of
    the year, its time of day moving through the day (and sometimes off the minute)."""
    around = zone_changes(zone) or zone_changes("America/Los_Angeles")[:1]
    groups = [[change - WINDOW + n * STEP for n in range(int(2 * WINDOW / STEP) + 1)] for change in around]
    start = dt.datetime(YEAR, 1, 1, tzinfo=UTC)
    groups += [[start + dt.timedelta(days=day, minutes=day * 211 % 1440, seconds=day % 3 * 29)]
               for day in range(0, 365, 2)]
    return groups


def dagster_ticks(expr: str, zone: str, first: dt.datetime, last: dt.datetime) -> list[dt.datetime]:
    """The scheduler's ticks from `first - lookback` to `last`."""
    start, end = (first - EXPRESSIONS.get(expr, (dt.timedelta(0),))[0]).timestamp(), last.timestamp()
    return list(takewhile(lambda t: t.timestamp() <= end, schedule_execution_time_iterator(start, expr, zone)))


def disagreements(previous_tick, zones=ZONES, expressions=EXPRESSIONS) -> tuple[int, list[tuple]]:
    """(samples, [(zone, cron, now, Dagster's tick, previous_tick's answer)]) for every sample where they differ:
    another instant, the same instant with another offset, or an error."""
    count, wrong = 0, []
    for zone in zones:
        for expr in expressions:
            every = EXPRESSIONS[expr][1]
            windows = len(zone_changes(zone)) or 1
            for group in [g[::every] for g in sample_groups(zone)[:windows]] + sample_groups(zone)[windows::every]:
                ticks = dagster_ticks(expr, zone, group[0], group[-1])
                stamps = [t.timestamp() for t in ticks]
                for now in group:
                    count += 1
                    want = ticks[bisect.bisect_right(stamps, now.timestamp()) - 1]
                    try:
                        got = previous_tick(expr, zone, now)
                    except Exception as exc:  # noqa: BLE001 - counted: the old evaluator raised on @daily and L
                        got = f"{type(exc).__name__}: {exc}"
                    same = (isinstance(got, dt.datetime) and got.timestamp() == want.timestamp()
                            and got.utcoffset() == want.utcoffset())
                    if not same:
                        wrong.append((zone, expr, now.isoformat(), want.isoformat(), str(got)))
    return count, wrong


@pytest.mark.parametrize("zone", ZONES)
def test_sensor_ticks_equal_dagster_schedule_ticks_over_a_year(zone):
    samples, wrong = disagreements(cron.previous_tick, [zone])
    assert samples > 7 * (183 + 200 * max(1, len(zone_changes(zone))))
    assert not wrong, f"{len(wrong)} of {samples} samples differ from Dagster's ticks, e.g. {wrong[:5]}"


def test_the_samples_cover_both_changes_in_both_hemispheres():
    assert [len(zone_changes(z)) for z in ZONES] == [2, 2, 2, 0, 0]
    sydney_end, sydney_start = zone_changes("Australia/Sydney")  # southern hemisphere: ends in April
    assert (sydney_end.month, sydney_start.month) == (4, 10)
    for change in zone_changes("America/Los_Angeles") + zone_changes("Europe/Berlin"):
        assert change.astimezone(ZoneInfo("UTC")).weekday() == 6  # Sundays: "5 2 * * 0" falls on them


@pytest.mark.parametrize(("expr", "zone", "now", "expected"), [
    # spring forward: 02:30 does not exist; Dagster runs it at 03:00, never a tick after now (old: 10:30Z, 01:30Z)
    ("30 2 * * *", "America/Los_Angeles", "2026-03-08T10:05:00+00:00", "2026-03-08T03:00:00-07:00"),
    ("30 2 * * *", "America/Los_Angeles", "2026-03-08T09:59:00+00:00", "2026-03-07T02:30:00-08:00"),
    ("30 2 * * *", "Europe/Berlin", "2026-03-29T01:10:00+00:00", "2026-03-29T03:00:00+02:00"),
    # fall back: a repeated time runs once, at its second occurrence
    ("0 1 * * *", "America/Los_Angeles", "2026-11-01T08:30:00+00:00", "2026-10-31T01:00:00-07:00"),
    ("0 1 * * *", "America/Los_Angeles", "2026-11-01T09:00:00+00:00", "2026-11-01T01:00:00-08:00"),
    ("30 2 * * *", "Europe/Berlin", "2026-10-25T01:45:00+00:00", "2026-10-25T02:30:00+01:00"),
    # hourly: both 01:00s
    ("0 * * * *", "America/Los_Angeles", "2026-11-01T08:59:00+00:00", "2026-11-01T01:00:00-07:00"),
    ("0 * * * *", "America/Los_Angeles", "2026-11-01T09:59:00+00:00", "2026-11-01T01:00:00-08:00"),
    ("30 * * * *", "Asia/Kolkata", "2026-03-08T10:05:00+00:00", "2026-03-08T15:30:00+05:30"),
    ("0 6 L * *", "UTC", "2026-03-01T00:00:00+00:00", "2026-02-28T06:00:00+00:00"),
    ("0 6 * * mon#2", "Europe/Berlin", "2026-07-01T00:00:00+00:00", "2026-06-08T06:00:00+02:00"),
    # leap day: Dagster's reverse iteration starts at Feb 29 even from Feb 28; the tick is never after now
    ("0 0 29 2 *", "UTC", "2028-02-28T12:00:00+00:00", "2024-02-29T00:00:00+00:00"),
    ("0 0 29 2 *", "UTC", "2028-02-29T00:00:00+00:00", "2028-02-29T00:00:00+00:00"),
])
def test_previous_tick_at_the_edges(expr, zone, now, expected):
    tick = cron.previous_tick(expr, zone, dt.datetime.fromisoformat(now))
    assert tick.isoformat() == expected
    assert tick.timestamp() <= dt.datetime.fromisoformat(now).timestamp()
    ticks = dagster_ticks(expr, zone, tick - dt.timedelta(days=2), tick)  # it is one of the scheduler's ticks
    assert ticks[-1].isoformat() == expected


def test_a_cron_that_never_fires_has_no_tick():
    # Dagster accepts the 31st of April (only Feb 30/31 is refused); its schedule would never run
    assert cron.cron_problem("0 0 31 4 *") is None
    assert cron.previous_tick("0 0 31 4 *", "UTC", dt.datetime(2026, 6, 1, tzinfo=UTC)) is None


# ----------------------------------------------------------------------------- the catalog check

CRONS = [
    "0 6 * * *", "*/15 * * * 1-5", "30 2 1,15 jan-mar sun", "0 0 * * 7", "@daily", "@DAILY", "@hourly", "@weekly",
    "@monthly", "@yearly", "@annually", "@midnight", "0 6 L * *", "0 6 1-L * *", "0 5-1 * * *", "0 6 * * 5-2",
    "0 6 * * mon#2", "0 6 ? * *", "0 0 29 2 *", "0 0 31 4 *", "0 0 30,31 2 *", "*/90 * * * *", "0\t6 * * *",
    "0 0 31 2 *", "0 0 30 2 *", "0 0 31 2 1", "@reboot", " @daily", "0 6 * * * *", "0 6 * * * 2026", "0 6 * *",
    "every day", "", "61 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 6 * * 8", "jan 6 * * *",
    "0 6 * sun *", "*/0 * * * *", "H 6 * * *", "0 6 15W * *", "0 6 LW * *", "0 6 * * 5L", "0 6 * * mon#6",
    "x" * 5000, "\x00 6 * * *",
]


def dagster_accepts(expr: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # */90: "an interval greater than the expected range"
        try:
            dg.ScheduleDefinition(name="s", cron_schedule=expr, job_name="j")
        except dg.DagsterInvalidDefinitionError:
            return False
    return True


@pytest.mark.parametrize("expr", CRONS)
def test_the_catalog_accepts_exactly_the_crons_dagster_accepts(expr):
    accepted = dagster_accepts(expr)
    assert (cron.cron_problem(expr) is None) is accepted
    for model, fields in [(CourierGroup, {"couriers": ["c"]}), (OrchestrationGroup, {"orchestrations": ["o"]})]:
        if accepted:
            assert model(name="g", schedule=expr, **fields).schedule == expr
        else:
            with pytest.raises(ValidationError, match="invalid cron schedule") as info:
                model(name="g", schedule=expr, **fields)
            assert cron.cron_problem(expr) in str(info.value)


def test_the_catalog_accepts_what_it_used_to_refuse_and_refuses_what_made_the_location_fail():
    assert [cron.cron_problem(e) is None for e in ("@daily", "0 6 L * *", "0 5-1 * * *", "0 0 31 2 *")] == [
        True, True, True, False]


GROUP_CATALOG = """
couriers:
  - name: shop
    pattern: "'c_'yyyyMMdd'.csv'"
    feed: customers
feeds:
  - name: customers
    source: shop
    columns:
      - {name: id, tag: pk}
courier_groups:
  - name: g
    couriers: [shop]
"""


@pytest.mark.parametrize(("expr", "message"), [
    ("61 * * * *", "minute field '61' is not valid (0-59)"),
    ("0 25 * * *", "hour field '25' is not valid (0-23)"),
    ("0 6 32 * *", "day of month field '32' is not valid (1-31, or L for the last day)"),
    ("0 6 * sun *", "month field 'sun' is not valid (1-12 or jan-dec)"),
    ("0 6 * * 8", "day of week field '8' is not valid (0-7 or sun-sat"),
    ("0 0 31 2 *", "Dagster refuses day 31 of February (it never occurs)"),
    ("0 6 * *", "has 4 fields; expected 5 (minute hour day-of-month month day-of-week) such as '0 6 * * *'"),
    ("0 6 * * * *", "has 6 fields; expected 5"),
    ("@reboot", "unknown alias; use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly"),
    (" @daily", "remove the spaces around it"),
])
def test_a_refused_cron_says_why_with_file_line_and_field(tenant, expr, message):
    tenant.write_catalog(GROUP_CATALOG + f'    schedule: "{expr}"\n', "groups.yaml")
    with pytest.raises(CatalogInvalid) as info:
        tenant.catalog()
    assert [str(e) for e in info.value.errors] == [
        f"groups.yaml:13: courier_groups.0.schedule: invalid cron schedule {expr!r}: {cron.cron_problem(expr)}"]
    assert message in cron.cron_problem(expr)


def test_campaign_crons_are_valid_dagster_crons():
    from workflow_platform.automation.campaigns import campaign_cron
    from workflow_platform.catalog.models import Campaign

    for recurrence in ("once", "daily", "weekly"):
        for start in ("2028-02-29T09:15:00", "2026-12-31T23:59:00", "2026-01-04T00:00:00"):
            campaign = Campaign(name="c", segment="s", sub_audiences=[{"name": "all", "percent": 100}],
                                recurrence=recurrence, start=start)
            assert dagster_accepts(campaign_cron(campaign)), (recurrence, start)


def test_the_longest_gap_between_ticks_follows_the_schedule():
    from workflow_platform.formats.cron import longest_gap

    assert longest_gap("0 6 * * *", "America/Los_Angeles") == dt.timedelta(days=1)
    assert longest_gap("30 7 * * 1-5", "UTC") == dt.timedelta(days=3)  # Friday to Monday
    assert longest_gap("0 */4 * * *", "Europe/London") == dt.timedelta(hours=4)
    assert longest_gap("0 7 1 * *", "UTC") == dt.timedelta(days=31)
    assert longest_gap("@weekly", "UTC") == dt.timedelta(days=7)
    assert longest_gap("0 0 31 4 *", "UTC") is None  # Dagster accepts it; it never fires


# ----------------------------------------------------------------------------- pins on Dagster's non-public helpers

def test_the_daemon_iterates_schedules_with_schedule_execution_time_iterator():
    from dagster._core.remote_representation.external import RemoteSchedule

    assert "schedule_execution_time_iterator(" in inspect.getsource(RemoteSchedule.execution_time_iterator)
    # and ScheduleDefinition's check is the one cron.is_valid_cron calls
    from dagster._core.definitions import schedule_definition

    assert "is_valid_cron_schedule(" in inspect.getsource(schedule_definition.ScheduleDefinition.__init__)


def test_cron_aliases_are_dagster_aliases():
    from dagster._utils.schedules import CroniterShim

    for alias, fields in cron.CRON_ALIASES.items():
        assert cron.is_valid_cron(alias)
        assert CroniterShim.expand(alias)[0] == CroniterShim.expand(fields)[0], alias


def main() -> None:
    started, samples, wrong, times = time.monotonic(), 0, [], []
    for zone in ZONES:
        for expr in EXPRESSIONS:
            n, w = disagreements(cron.previous_tick, [zone], [expr])
            samples, wrong, times = samples + n, wrong + w, times + [n]
    print(f"{cron.__file__}: {samples} samples ({len(EXPRESSIONS)} crons x {len(ZONES)} zones, {min(times)}-"
          f"{max(times)} times each): {len(wrong)} disagreements with Dagster's schedule ticks "
          f"({time.monotonic() - started:.1f} s)")
    by_cron: dict[str, int] = {}
    for _, expr, *_ in wrong:
        by_cron[expr] = by_cron.get(expr, 0) + 1
    for expr, n in by_cron.items():
        print(f"  {expr!r}: {n}, e.g. {next(w for w in wrong if w[1] == expr)}")


if __name__ == "__main__":
    main()
