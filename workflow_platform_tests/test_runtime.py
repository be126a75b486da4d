"""Duration thresholds: freshness policies on a group's assets and a warning while a run is still going."""

import datetime as dt
import time

import dagster as dg

from workflow_platform.automation.jobs import BUILD_JOB, courier_group_job_name
from workflow_platform.automation.runtime import build_runtime_sensors
from workflow_platform.catalog.models import CourierGroup
from workflow_platform.definitions import build_definitions
from workflow_platform.presentation import freshness_policy
from workflow_platform.tags import COURIER_GROUP_TAG
from workflow_platform_tests.servers import SlackServer
from workflow_platform_tests.support import COURIER_GROUP_CATALOG, channels


def test_the_window_is_the_longest_gap_between_ticks_plus_the_threshold():
    def group(schedule):
        return CourierGroup(name="g", couriers=[{"courier": "c"}], schedule=schedule, runtime_threshold="30 minutes")

    assert freshness_policy(group("0 6 * * *")).fail_window.to_timedelta() == dt.timedelta(days=1, minutes=30)
    assert freshness_policy(group("0 6 * * 1-5")).fail_window.to_timedelta() == dt.timedelta(days=3, minutes=30)
    assert freshness_policy(group(None)).fail_window.to_timedelta() == dt.timedelta(days=1, minutes=30)
    assert freshness_policy(CourierGroup(name="g", couriers=[{"courier": "c"}], schedule="0 6 * * *")) is None


def test_group_assets_carry_the_freshness_policy(tenant):
    tenant.write_catalog(COURIER_GROUP_CATALOG.format(stop="false", club_optional="false", schedule="0 6 * * *", active="true")
                         .replace("    active: true", "    active: true\n    runtime_threshold: 45 minutes"))
    catalog = tenant.catalog()
    policy = freshness_policy(catalog.courier_groups[0])
    assert isinstance(policy, dg.FreshnessPolicy)
    graph = build_definitions(catalog, str(tenant.warehouse)).resolve_asset_graph()
    # on the last asset of each load (its domain table); the courier and feed assets of a load share its step
    for key in ("domain/web", "domain/club"):
        assert graph.get(dg.AssetKey(key.split("/"))).freshness_policy == policy
    for key in ("courier/web", "feed/web"):
        assert graph.get(dg.AssetKey(key.split("/"))).freshness_policy is None
    assert policy.fail_window.to_timedelta() == dt.timedelta(days=1, minutes=45)


def test_a_run_over_its_threshold_is_warned_once_while_it_runs(tenant):
    tenant.write_catalog(COURIER_GROUP_CATALOG.format(stop="false", club_optional="false", schedule="0 6 * * *", active="true")
                         .replace("    active: true", "    active: true\n    runtime_threshold: 1 second"))
    catalog = tenant.catalog()
    [sensor] = build_runtime_sensors(catalog)
    slack = SlackServer()
    try:
        with dg.instance_for_test() as instance:
            instance.add_run(dg.DagsterRun(job_name=courier_group_job_name("daily"), run_id="slow-run",
                                           status=dg.DagsterRunStatus.STARTED, tags={COURIER_GROUP_TAG: "daily"}))
            # the build run that follows the group's load counts too (it carries the group's tag)
            instance.add_run(dg.DagsterRun(job_name=BUILD_JOB, run_id="slow-build", status=dg.DagsterRunStatus.STARTED,
                                           tags={COURIER_GROUP_TAG: "daily"}))
            instance.add_run(dg.DagsterRun(job_name=BUILD_JOB, run_id="other-build",
                                           status=dg.DagsterRunStatus.STARTED, tags={COURIER_GROUP_TAG: "weekly"}))
            time.sleep(1.2)
            resources = {"alert_channels": channels(slack, None)}
            first = dg.build_sensor_context(instance=instance, resources=resources)
            message = sensor(first).skip_message
            assert "runtime warning for slow-run" in message and "runtime warning for slow-build" in message
            assert "other-build" not in message
            second = dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor)
            assert "runtime warning" not in sensor(second).skip_message  # once per run, across ticks
            # the instance API the freshness alerts read (not public in Dagster 1.13): pinned by this call
            assert instance.get_freshness_state_records([dg.AssetKey(["courier", "web"])]) == {}
        assert len(slack.messages) == 2
        for message in slack.messages:
            assert message["text"].startswith("[WARNING] courier group daily: runtime over threshold")
            assert "over the 1 second threshold" in message["text"]
        assert {m["text"].rsplit("/runs/", 1)[1] for m in slack.messages} == {"slow-run", "slow-build"}
    finally:
        slack.close()


def test_no_threshold_no_runtime_sensor(tenant):
    tenant.write_catalog(COURIER_GROUP_CATALOG.format(stop="false", club_optional="false", schedule="0 6 * * *", active="true"))
    assert build_runtime_sensors(tenant.catalog()) == []


def test_a_freshness_state_turning_warn_or_fail_alerts_once_per_transition(tenant, monkeypatch):
    from types import SimpleNamespace

    tenant.write_catalog(COURIER_GROUP_CATALOG.format(stop="false", club_optional="false", schedule="0 6 * * *", active="true")
                         .replace("    active: true", "    active: true\n    runtime_threshold: 30 minutes"))
    catalog = tenant.catalog()
    defs = build_definitions(catalog, str(tenant.warehouse))
    [sensor] = build_runtime_sensors(catalog)
    states = {"value": "PASS"}
    slack = SlackServer()
    try:
        with dg.instance_for_test() as instance:
            # the daemon's FreshnessDaemon writes these records; here the test decides what they say
            monkeypatch.setattr(instance, "get_freshness_state_records", lambda keys: {
                key: SimpleNamespace(freshness_state=SimpleNamespace(value=states["value"])) for key in keys})
            cursor = None
            for state, expected in (("PASS", 0), ("WARN", 1), ("WARN", 1), ("FAIL", 2), ("PASS", 2), ("FAIL", 3)):
                states["value"] = state
                context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                                  resources={"alert_channels": channels(slack, None)})
                sensor(context)
                cursor = context.cursor
                assert len(slack.messages) == expected, (state, [m["text"] for m in slack.messages])
        texts = [m["text"] for m in slack.messages]
        assert texts[0].startswith("[WARNING] courier group daily: data not fresh")
        assert texts[1].startswith("[ERROR] courier group daily: data not fresh")
        assert "courier/web FAIL" in texts[1] and "domain/club FAIL" in texts[1]
    finally:
        slack.close()
