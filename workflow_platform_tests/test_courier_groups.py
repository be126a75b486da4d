"""Courier-group schedule sensors: every branch of the missing-file policy, decided at chosen moments."""

import datetime as dt
import json

import dagster as dg

from workflow_platform.automation.courier_groups import build_courier_group_sensors, decide
from workflow_platform.ingest.window import run_days
from workflow_platform.tags import SCHEDULED_AT_TAG, SINCE_TAG, SKIP_COURIERS_TAG, SKIP_MISSING_TAG
from workflow_platform_tests.servers import SlackServer
from workflow_platform_tests.support import COURIER_GROUP_CATALOG, TICK, channels, group, land

UTC = dt.UTC

def test_all_files_present_launches_one_run_per_tick(tenant):
    catalog, daily = group(tenant)
    land(tenant, "web", "club")
    first = decide(catalog, daily, TICK + dt.timedelta(minutes=1), {})
    [request] = first.run_requests
    assert request.run_key == "daily:2026-01-06T06:00:00+00:00"
    assert request.tags == {SCHEDULED_AT_TAG: "2026-01-06T06:00:00+00:00"}
    assert all(c.passed for c in first.checks) and not first.alerts
    again = decide(catalog, daily, TICK + dt.timedelta(minutes=2), first.cursor)
    assert again.run_requests == [] and again.message == "no new tick"


def test_missing_file_within_its_wait_keeps_checking_then_launches(tenant):
    catalog, daily = group(tenant)
    land(tenant, "club")
    waiting = decide(catalog, daily, TICK + dt.timedelta(minutes=30), {})
    assert waiting.run_requests == [] and not waiting.alerts
    assert "waiting until 2026-01-06T08:00:00+00:00 for web: web_20260105.csv for 2026-01-05" in waiting.message
    land(tenant, "web")
    arrived = decide(catalog, daily, TICK + dt.timedelta(minutes=45), waiting.cursor)
    assert [r.run_key for r in arrived.run_requests] == ["daily:2026-01-06T06:00:00+00:00"]


def test_wait_expired_notify_and_continue(tenant):
    catalog, daily = group(tenant)
    land(tenant, "club")
    decision = decide(catalog, daily, TICK + dt.timedelta(hours=2, minutes=1), {})
    [request] = decision.run_requests
    assert request.tags[SKIP_MISSING_TAG] == "true"
    [alert] = decision.alerts
    assert (alert.kind, alert.severity) == ("missing_files", "error")
    assert ("courier web: no file matching web_20260105.csv for 2026-01-05 (waited 2 hours after the 2026-01-06 "
            "06:00 UTC tick)") in alert.cause
    assert alert.run_key == "daily:2026-01-06T06:00:00+00:00"  # the alert links to the run that went on
    failed = {c.asset_key.to_user_string(): c.passed for c in decision.checks}
    assert failed == {"courier/web": False, "courier/club": True}


def test_wait_expired_notify_and_stop(tenant):
    catalog, daily = group(tenant, stop=True)
    land(tenant, "club")
    decision = decide(catalog, daily, TICK + dt.timedelta(hours=3), {})
    assert decision.run_requests == []
    assert "stopped, missing web" in decision.message
    assert decision.alerts[0].severity == "error" and "the group run was stopped" in decision.alerts[0].action


def test_optional_file_missing_is_a_warning(tenant):
    catalog, daily = group(tenant, club_optional=True)
    land(tenant, "web")
    decision = decide(catalog, daily, TICK + dt.timedelta(minutes=1), {})  # club waits 0 s: decided at once
    [alert] = decision.alerts
    assert (alert.severity, alert.kind) == ("warning", "missing_files")
    assert len(decision.run_requests) == 1


def test_a_late_file_gets_a_catch_up_run_and_a_late_alert(tenant):
    catalog, daily = group(tenant)
    land(tenant, "club")
    missed = decide(catalog, daily, TICK + dt.timedelta(hours=3), {})
    land(tenant, "web")
    later = decide(catalog, daily, TICK + dt.timedelta(hours=4), missed.cursor)
    [catch_up] = later.run_requests
    assert catch_up.run_key == "daily:2026-01-06T06:00:00+00:00:late:web"
    assert catch_up.tags[SCHEDULED_AT_TAG] == TICK.isoformat()
    [alert] = later.alerts
    assert alert.kind == "late_file" and "arrived after their window closed" in alert.cause
    assert later.cursor["late"] == []
    assert decide(catalog, daily, TICK + dt.timedelta(hours=5), later.cursor).run_requests == []


def test_a_weekly_group_loads_every_day_since_its_previous_tick(tenant):
    catalog, weekly = group(tenant, schedule="0 6 * * 1")  # Mondays
    monday = dt.datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    next_monday = monday + dt.timedelta(days=7)
    for day in range(4, 12):
        land(tenant, "web", "club", day=f"202601{day:02d}")
    first = decide(catalog, weekly, monday + dt.timedelta(minutes=1), {})
    second = decide(catalog, weekly, next_monday + dt.timedelta(minutes=1), first.cursor)
    [request] = second.run_requests
    assert request.tags[SINCE_TAG] == monday.isoformat()
    days = run_days(request.tags, weekly.couriers[0].look_back_seconds)
    assert days[0] == dt.date(2026, 1, 5) and days[-1] == dt.date(2026, 1, 11)  # every day since the last run


def test_the_sensor_alerts_once_and_an_inactive_group_starts_stopped(tenant, monkeypatch):
    import workflow_platform.automation.courier_groups as module

    catalog, _daily = group(tenant)
    land(tenant, "club")

    class FixedNow(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return TICK + dt.timedelta(hours=3)

    monkeypatch.setattr(module.dt, "datetime", FixedNow)
    slack = SlackServer()
    try:
        [sensor] = build_courier_group_sensors(catalog)
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        with dg.instance_for_test() as instance:
            context = dg.build_sensor_context(instance=instance, resources={"alert_channels": channels(slack, None)})
            first = sensor(context)
            assert [r.run_key for r in first.run_requests] == ["daily:2026-01-06T06:00:00+00:00"]
            # the cursor travels to the next tick: the same missing file is not alerted again
            context = dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                              resources={"alert_channels": channels(slack, None)})
            second = sensor(context)
            assert second.run_requests == []
            assert json.loads(second.cursor)["alerted"] == json.loads(first.cursor)["alerted"]
        assert len(slack.messages) == 1 and "files missing" in slack.messages[0]["text"]
    finally:
        slack.close()
    catalog, _ = group(tenant, active=False)
    [stopped] = build_courier_group_sensors(catalog)
    assert stopped.default_status == dg.DefaultSensorStatus.STOPPED


def test_a_wait_longer_than_the_schedule_interval_is_still_decided(tenant):
    tenant.write_catalog(COURIER_GROUP_CATALOG.format(stop="true", club_optional="false", schedule="*/10 * * * *",
                                                      active="true"))
    catalog = tenant.catalog()
    every_ten = catalog.courier_groups[0]  # web waits 2 hours, ticks come every 10 minutes
    land(tenant, "club", day="20260105")
    first = decide(catalog, every_ten, TICK + dt.timedelta(minutes=1), {})
    assert "waiting until 2026-01-06T08:00:00+00:00" in first.message
    later = decide(catalog, every_ten, TICK + dt.timedelta(minutes=55), first.cursor)  # 5 ticks later
    assert "tick 2026-01-06T06:00:00+00:00: waiting" in later.message
    expired = decide(catalog, every_ten, TICK + dt.timedelta(hours=2, minutes=1), later.cursor)
    assert "tick 2026-01-06T06:00:00+00:00: stopped, missing web" in expired.message
    assert [a.kind for a in expired.alerts] == ["missing_files"]


def test_a_catch_up_run_leaves_out_the_couriers_that_already_loaded(tenant):

    catalog, daily = group(tenant)
    land(tenant, "club")
    missed = decide(catalog, daily, TICK + dt.timedelta(hours=3), {})
    land(tenant, "web")
    [catch_up] = decide(catalog, daily, TICK + dt.timedelta(hours=4), missed.cursor).run_requests
    assert catch_up.tags[SKIP_COURIERS_TAG] == "club"


def test_the_same_file_missing_at_a_later_tick_is_alerted_again(tenant):
    catalog, twice = group(tenant, schedule="0 6,18 * * *")  # both ticks of a day load yesterday's files
    land(tenant, "club")
    morning = decide(catalog, twice, TICK + dt.timedelta(hours=3), {})
    evening = decide(catalog, twice, TICK + dt.timedelta(hours=12, minutes=1), morning.cursor)
    evening = decide(catalog, twice, TICK + dt.timedelta(hours=14, minutes=1), evening.cursor)  # after the wait
    [first], [second] = morning.alerts, [a for a in evening.alerts if a.kind == "missing_files"]
    assert first.key != second.key  # de-duplicated per tick, not per file and day
    assert "06:00 UTC tick" in first.cause and "18:00 UTC tick" in second.cause


def test_after_a_stop_the_catch_up_run_loads_every_courier_of_the_tick(tenant):
    from workflow_platform.definitions import build_definitions

    tenant.write_catalog(COURIER_GROUP_CATALOG.format(stop="true", club_optional="false", schedule="0 6 * * *",
                                                      active="true")
                         .replace("alerts:", "databases: []\nalerts:"))
    catalog = tenant.catalog()
    daily = catalog.courier_groups[0]
    land(tenant, "club")
    stopped = decide(catalog, daily, TICK + dt.timedelta(hours=3), {})
    assert stopped.run_requests == [] and "launch job courier_group__daily from the UI" in stopped.alerts[0].action
    land(tenant, "web")
    later = decide(catalog, daily, TICK + dt.timedelta(hours=4), stopped.cursor)
    [catch_up] = later.run_requests
    assert SKIP_COURIERS_TAG not in catch_up.tags  # club's file of that tick never loaded: it loads now
    assert "with the other couriers' files of that run, which was stopped" in later.alerts[0].action
    defs = build_definitions(catalog, str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, tags=catch_up.tags, raise_on_error=False)
    assert result.success
    assert tenant.query("SELECT courier, file, status FROM audit.files ORDER BY courier") == [
        ("club", "club_20260105.csv", "loaded"), ("web", "web_20260105.csv", "loaded")]


def test_a_file_gone_after_its_run_was_scheduled_follows_the_groups_policy(tenant):
    from workflow_platform.definitions import build_definitions

    for stop in (False, True):
        tenant.write_catalog(COURIER_GROUP_CATALOG.format(stop=str(stop).lower(), club_optional="false",
                                                          schedule="0 6 * * *", active="true"))
        catalog = tenant.catalog()
        land(tenant, "club", day="2026010" + ("6" if stop else "5"))
        tags = {SCHEDULED_AT_TAG: (TICK + dt.timedelta(days=int(stop))).isoformat()}  # as the sensor launched it
        defs = build_definitions(catalog, str(tenant.warehouse))
        with dg.instance_for_test() as instance:
            result = defs.resolve_job_def("courier_group__daily").execute_in_process(
                instance=instance, tags=tags, raise_on_error=False)
            logged = "\n".join(e.user_message for e in instance.all_logs(result.run_id))
        if stop:  # the group stops when files are missing: the load fails, saying which file
            failures = [e.step_failure_data.user_failure_data.description for e in result.all_events
                        if e.is_step_failure]
            assert not result.success and failures == [
                ("courier 'web': no file matching web_20260106.csv for 2026-01-06 (required file; window 2026-01-06 "
                ".. 2026-01-06)")]
        else:  # notify and continue: the run goes on without web, alerts and says why
            assert result.success
            assert ("the file was there when the run was scheduled; the group goes on without it: continuing"
                    in logged)
            assert "files missing" in logged and "(optional: continuing)" not in logged
