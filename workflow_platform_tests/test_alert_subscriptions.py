"""Per-run alert subscriptions (Amperity's workflow run alerts): a run tagged workflow_platform/notify alerts its
own subscribers too (failure, success, cancel, runtime, query thresholds), manual runs included; emails still
only to the allowed domains. Real runs, the real alert sensors, a local Slack API server and a real SMTP server."""

import dagster as dg
import pytest
from click.testing import CliRunner

from workflow_platform.alerts.dispatch import deliver
from workflow_platform.alerts.model import Alert, parse_subscribers
from workflow_platform.alerts.sensors import build_alert_sensors
from workflow_platform.automation.build import build_run_tags
from workflow_platform.cli import main
from workflow_platform.definitions import build_definitions
from workflow_platform.tags import NOTIFY_TAG
from workflow_platform_tests.support import SETTINGS, channels, people_catalog

CATALOG = people_catalog(["{name: id, type: integer, tag: pk}"], rest="""\
courier_groups:
  - name: daily
    couriers: [{courier: shop, stop_when_missing: true}]
alerts:
  allowed_email_domains: [acme.example]
  courier_groups:
    slack: ["#data-alerts"]
""")
NOTIFY = "me@acme.example, #oncall, stranger@elsewhere.example"


def evaluate(sensor, instance, result, event_type, resources):
    event = next(e for e in result.all_events if e.event_type == event_type)
    context = dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_instance=instance,
                                                 dagster_run=result.dagster_run, dagster_event=event,
                                                 resources=resources)
    sensor(context.for_run_failure() if event_type == dg.DagsterEventType.RUN_FAILURE else context)


def test_a_subscribed_run_alerts_its_subscribers_beside_the_group(tenant, slack, smtp):
    tenant.write_catalog(CATALOG)
    tenant.land("in/c_20260105.csv", "id\nnot-a-number\n")  # refused: the stopping courier fails the run
    catalog = tenant.catalog()
    defs = build_definitions(catalog, str(tenant.warehouse))
    failure_sensor, _, _ = build_alert_sensors(catalog)
    resources = {"alert_channels": channels(slack, smtp)}
    with dg.instance_for_test() as instance:
        failed = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, raise_on_error=False,
            tags={"workflow_platform/date_from": "2026-01-05", NOTIFY_TAG: NOTIFY})
        assert not failed.success
        evaluate(failure_sensor, instance, failed, dg.DagsterEventType.RUN_FAILURE, resources)
    posted = {m["channel"] for m in slack.messages if "run failed" in m["text"]}
    assert posted == {"#data-alerts", "#oncall"}
    mailed = [recipients for recipients, content in smtp.messages if "run failed" in content]
    assert mailed == [["me@acme.example"]]  # the subscriber outside the allowed domains gets nothing


def test_a_success_alert_reaches_the_subscribers_only_when_the_group_did_not_ask_for_it(tenant, slack):
    tenant.write_catalog(CATALOG)
    tenant.land("in/c_20260105.csv", "id\n1\n")
    catalog = tenant.catalog()
    defs = build_definitions(catalog, str(tenant.warehouse))
    _, success_sensor, _ = build_alert_sensors(catalog)
    resources = {"alert_channels": channels(slack, None)}
    with dg.instance_for_test() as instance:
        for tags in ({}, {NOTIFY_TAG: "#oncall"}):
            result = defs.resolve_job_def("courier_group__daily").execute_in_process(
                instance=instance, tags={"workflow_platform/date_from": "2026-01-05", **tags})
            evaluate(success_sensor, instance, result, dg.DagsterEventType.RUN_SUCCESS, resources)
    assert [(m["channel"], m["text"].splitlines()[0]) for m in slack.messages] == [
        ("#oncall", "[INFO] courier group daily: run succeeded")]  # the untagged run alerted nobody


def test_subscribers_are_checked_and_follow_the_group_run_into_its_build_run(tenant):
    assert parse_subscribers(" a@acme.example,#ops ,a@acme.example") == ("a@acme.example", "#ops")
    with pytest.raises(ValueError, match="'ops': a run's alert subscriber is an email address or a Slack #channel"):
        parse_subscribers("ops")
    tenant.write_catalog(CATALOG)
    result = CliRunner().invoke(main, ["run", "--catalog", str(tenant.catalog_dir), "--date", "2026-01-05",
                                       "--notify", "oncall"])
    assert result.exit_code == 2 and "a run's alert subscriber is an email address" in result.output
    run = dg.DagsterRun(job_name="courier_group__daily", run_id="r1",
                        tags={"courier_group": "daily", NOTIFY_TAG: "#oncall"})
    assert build_run_tags(run)[NOTIFY_TAG] == "#oncall"


def test_an_alert_for_subscribers_only_leaves_the_groups_recipients_out(slack, smtp):
    alert = Alert("success", "info", "courier_groups", "daily", cause="run of job x succeeded", action="nothing",
                  run_id="r2", subscribers=("me@acme.example", "#oncall"), subscribers_only=True)
    deliver(alert, SETTINGS, channels(slack, smtp).slack(), channels(slack, smtp).email())
    assert [m["channel"] for m in slack.messages] == ["#oncall"]
    assert [recipients for recipients, _ in smtp.messages] == [["me@acme.example"]]
