"""Orchestration groups: after a courier group (real runs, the sensors evaluated against the instance's event log),
on a schedule across time zones and daylight-saving days, never when disabled; query thresholds stop sends."""

import csv
import datetime as dt
from itertools import takewhile
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._utils.schedules import cron_string_iterator  # the scheduler's own tick iterator (no public API)

from workflow_platform.automation.orchestration_groups import UPSTREAM_RUN_TAG
from workflow_platform.catalog.loader import CatalogInvalid
from workflow_platform.definitions import build_definitions
from workflow_platform_tests.support import CUSTOMER_SOURCE, channels, customer_file, run_courier_group


def catalog_text(enabled: bool = True, group_options: str = "run_after: daily", fail_when: str = "") -> str:
    return f"""
{CUSTOMER_SOURCE}
segments:
  - name: everyone
    sql: SELECT customer_id, given_name, email FROM c360.customer_360
    {fail_when}
destinations:
  - name: out
    url: exports
orchestrations:
  - name: send_everyone
    segment: everyone
    destination: out
    workflow: automatic
    filename: "everyone_{{{{ now | format('yyyyMMdd') }}}}.csv"
orchestration_groups:
  - name: activations
    orchestrations: [send_everyone]
    enabled: {str(enabled).lower()}
    {group_options}
alerts:
  orchestration_groups:
    slack: ["#marketing"]
"""


def land_day(tenant, day: str, rows: int = 3, broken: bool = False) -> None:
    content = "a,b,c,d,e,f\nthis,file,has,the,wrong,columns\n" if broken else customer_file(rows)
    tenant.land(f"in/c_{day.replace('-', '')}.csv", content)


def evaluate(defs, instance, name: str, cursor: str | None, resources=None):
    sensor = defs.resolve_sensor_def(name)
    context = dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor, resources=resources)
    return sensor.evaluate_tick(context)


def test_each_successful_courier_group_run_triggers_exactly_one_orchestration_run(tenant):
    tenant.write_catalog(catalog_text())
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    sensor = "orchestration_group__activations__after_daily"
    with dg.instance_for_test() as instance:
        cursor = evaluate(defs, instance, sensor, None).cursor  # starts from now, like the daemon
        land_day(tenant, "2026-01-05")
        first = run_courier_group(defs, instance, "2026-01-05")
        assert first.success
        tick = evaluate(defs, instance, sensor, cursor)
        assert len(tick.run_requests) == 1, tick.skip_message
        [request] = tick.run_requests
        assert request.run_key == first.run_id and request.tags[UPSTREAM_RUN_TAG] == first.run_id
        assert evaluate(defs, instance, sensor, tick.cursor).run_requests == []  # never twice

        # the requested run sends the audience the courier group just built
        sent = defs.resolve_job_def("orchestration_group__activations").execute_in_process(
            instance=instance, tags=request.tags)
        assert sent.success
        [exported] = (tenant.root / "data" / "exports").glob("everyone_*.csv")
        assert len(list(csv.DictReader(exported.open()))) == 3

        land_day(tenant, "2026-01-06", rows=4)
        land_day(tenant, "2026-01-07", rows=5)
        second, third = run_courier_group(defs, instance, "2026-01-06"), run_courier_group(defs, instance, "2026-01-07")
        keys, cursor = [], tick.cursor
        for _ in range(4):  # the daemon evaluates again and again; each success is handled once, in order
            later = evaluate(defs, instance, sensor, cursor)
            keys += [r.run_key for r in later.run_requests]
            cursor = later.cursor
        assert keys == [second.run_id, third.run_id]


def test_a_failed_courier_group_run_starts_nothing_and_alerts_the_orchestration_group(tenant, slack):
    tenant.write_catalog(catalog_text())
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    resources = {"alert_channels": channels(slack, None)}
    with dg.instance_for_test() as instance:
        after = evaluate(defs, instance, "orchestration_group__activations__after_daily", None).cursor
        failed_cursor = evaluate(defs, instance, "orchestration_groups__upstream_failed", None, resources).cursor
        land_day(tenant, "2026-01-05", broken=True)
        failed = run_courier_group(defs, instance, "2026-01-05")
        assert not failed.success
        assert evaluate(defs, instance, "orchestration_group__activations__after_daily", after).run_requests == []
        evaluate(defs, instance, "orchestration_groups__upstream_failed", failed_cursor, resources)
    [message] = slack.messages
    assert message["channel"] == "#marketing"
    assert message["text"].startswith("[ERROR] orchestration group activations: did not run: upstream failed")
    assert "courier group daily failed" in message["text"] and failed.run_id in message["text"]


def test_a_disabled_group_never_runs_automatically(tenant):
    tenant.write_catalog(catalog_text(enabled=False))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    sensor = defs.resolve_sensor_def("orchestration_group__activations__after_daily")
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED
    with dg.instance_for_test() as instance:
        cursor = evaluate(defs, instance, sensor.name, None).cursor
        land_day(tenant, "2026-01-05")
        assert run_courier_group(defs, instance, "2026-01-05").success
        tick = evaluate(defs, instance, sensor.name, cursor)  # even when someone starts the sensor by hand
        assert tick.run_requests == [] and "disabled" in tick.skip_message


def test_an_ingest_only_run_is_not_a_workflow_run(tenant):
    tenant.write_catalog(catalog_text())
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    sensor = "orchestration_group__activations__after_daily"
    with dg.instance_for_test() as instance:
        cursor = evaluate(defs, instance, sensor, None).cursor
        land_day(tenant, "2026-01-05")
        ingest = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey(["courier", "shop"]), dg.AssetKey(["feed", "customers"]),
                                                dg.AssetKey(["domain", "customers"])],
            tags={"workflow_platform/date_from": "2026-01-05", "workflow_platform/date_to": "2026-01-05"})
        assert ingest.success
        assert evaluate(defs, instance, sensor, cursor).run_requests == []


def test_a_fail_threshold_stops_the_courier_group_run_so_no_orchestration_follows(tenant, slack):
    tenant.write_catalog(catalog_text(fail_when="fail_when: {min_rows: 10}"))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    sensor = "orchestration_group__activations__after_daily"
    with dg.instance_for_test() as instance:
        cursor = evaluate(defs, instance, sensor, None).cursor
        land_day(tenant, "2026-01-05", rows=3)
        result = run_courier_group(defs, instance, "2026-01-05")
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["fail_threshold"] is False  # the query ran with the database build
        assert not result.success
        assert evaluate(defs, instance, sensor, cursor).run_requests == []
        # run by hand, the group's own run stops before sending: the blocking check skips the orchestration
        manual = defs.resolve_job_def("orchestration_group__activations").execute_in_process(
            instance=instance, raise_on_error=False)
        assert not manual.success
        assert not (tenant.root / "data" / "exports").exists() or not list((tenant.root / "data" / "exports").iterdir())


def test_run_after_a_group_without_activations_is_a_catalog_error(tenant):
    text = catalog_text().replace("    couriers: [shop]\n", "    couriers: [shop]\n    run_type: refresh\n")
    tenant.write_catalog(text)
    with pytest.raises(CatalogInvalid, match="run_type 'refresh', which never runs activations"):
        tenant.catalog()


def ticks_on(schedule: dg.ScheduleDefinition, day: dt.date) -> list[dt.datetime]:
    zone = ZoneInfo(schedule.execution_timezone)
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    ticks = cron_string_iterator(start.timestamp(), schedule.cron_schedule, schedule.execution_timezone)
    return list(takewhile(lambda t: t.timestamp() < end.timestamp(), ticks))


@pytest.mark.parametrize(("cron", "zone", "day", "expected_utc"), [
    ("30 2 * * *", "America/Los_Angeles", dt.date(2026, 3, 7), ["2026-03-07T10:30:00+00:00"]),
    # spring forward: 02:30 does not exist; the group runs once, at 03:00 local
    ("30 2 * * *", "America/Los_Angeles", dt.date(2026, 3, 8), ["2026-03-08T10:00:00+00:00"]),
    # fall back: 01:30 happens twice; the group runs once, at the second 01:30 (PST)
    ("30 1 * * *", "America/Los_Angeles", dt.date(2026, 11, 1), ["2026-11-01T09:30:00+00:00"]),
    ("30 2 * * *", "America/Los_Angeles", dt.date(2026, 11, 1), ["2026-11-01T10:30:00+00:00"]),
    ("30 2 * * *", "Europe/Berlin", dt.date(2026, 3, 29), ["2026-03-29T01:00:00+00:00"]),
    ("30 2 * * *", "Europe/Berlin", dt.date(2026, 10, 25), ["2026-10-25T01:30:00+00:00"]),
    ("0 6 * * *", "UTC", dt.date(2026, 3, 8), ["2026-03-08T06:00:00+00:00"]),
])
def test_scheduled_groups_run_once_a_day_across_daylight_saving_changes(tenant, cron, zone, day, expected_utc):
    tenant.write_catalog(catalog_text(group_options=f"schedule: '{cron}'\n    timezone: {zone}"))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    schedule = defs.resolve_schedule_def("orchestration_group__activations__schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == (cron, zone)
    ticks = ticks_on(schedule, day)
    assert [t.astimezone(dt.UTC).isoformat() for t in ticks] == expected_utc
    with dg.instance_for_test() as instance:
        [tick] = ticks
        request = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
        assert [r.run_key for r in request.run_requests] == [tick.isoformat()]


def test_a_disabled_schedule_starts_stopped_and_skips(tenant):
    tenant.write_catalog(catalog_text(enabled=False, group_options="schedule: '0 6 * * *'\n    timezone: Europe/Paris"))
    defs = build_definitions(tenant.catalog(), str(tenant.warehouse))
    schedule = defs.resolve_schedule_def("orchestration_group__activations__schedule")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    with dg.instance_for_test() as instance:
        tick = dt.datetime(2026, 6, 1, 6, tzinfo=ZoneInfo("Europe/Paris"))
        data = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick))
    assert data.run_requests == [] and "disabled" in data.skip_message
