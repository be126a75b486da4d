"""Workflow alerts reach a real local Slack Web API server and a real SMTP server (aiosmtpd), once, without PII."""

import logging

import dagster as dg

from workflow_platform.alerts.dispatch import deliver
from workflow_platform.alerts.sensors import build_alert_sensors
from workflow_platform.definitions import build_definitions
from workflow_platform_tests.servers import SlackServer
from workflow_platform_tests.support import ALERT, SETTINGS, channels, people_catalog


def test_an_alert_reaches_slack_and_allowed_email(slack, smtp, caplog):
    resource = channels(slack, smtp)
    with caplog.at_level(logging.WARNING, logger="workflow_platform.alerts"):
        deliveries = deliver(ALERT, SETTINGS, resource.slack(), resource.email(), backoff=0)
    assert all(d.ok for d in deliveries)
    [message] = slack.messages
    assert message["path"] == "/api/chat.postMessage" and message["channel"] == "#data-alerts"
    assert message["auth"] == "Bearer xoxb-test"
    assert message["text"].startswith("[ERROR] courier group daily: files missing")
    assert "Run: http://127.0.0.1:3000/runs/abc" in message["text"]
    [(recipients, content)] = smtp.messages
    assert recipients == ["data@acme.example"]  # the other domain is not allowed
    assert "Subject: [ERROR] courier group daily: files missing" in content
    assert "not emailed to someone@elsewhere.example" in caplog.text


def test_a_failing_channel_is_retried_then_reported_on_the_other(smtp, caplog):
    flaky = SlackServer(fail_first=1)
    try:
        resource = channels(flaky, smtp)
        assert all(d.ok for d in deliver(ALERT, SETTINGS, resource.slack(), resource.email(), backoff=0))
        assert len(flaky.messages) == 1  # second attempt went through
        flaky.fail_first = 10
        with caplog.at_level(logging.ERROR, logger="workflow_platform.alerts"):
            deliveries = deliver(ALERT, SETTINGS, resource.slack(), resource.email(), backoff=0)
        assert [d.ok for d in deliveries if d.channel == "slack"] == [False]
        assert "alert delivery failed on slack (#data-alerts) after 3 attempt(s)" in caplog.text
        assert any("[alert delivery failed]" in content for _, content in smtp.messages)
    finally:
        flaky.close()


def test_with_no_channel_the_alert_goes_to_the_log(caplog):
    with caplog.at_level(logging.WARNING, logger="workflow_platform.alerts"):
        deliveries = deliver(ALERT, SETTINGS)
    assert [d.channel for d in deliveries] == ["log"]
    assert "[ERROR] courier group daily: files missing" in caplog.text


def test_a_failed_group_run_alerts_its_recipients_without_customer_values(tenant, slack, smtp):
    tenant.write_catalog(people_catalog(["{name: id, type: integer, tag: pk}", "{name: email, tag: email}"], rest="""\
courier_groups:
  - name: daily
    couriers: [{courier: shop, stop_when_missing: true}]  # a refused file stops the run
alerts:
  courier_groups:
    email: [ops@acme.example]
    slack: ["#data-alerts"]
"""))
    tenant.land("in/c_20260105.csv", "id,email\n1,secret.person@example.org\nx,other.person@example.org\n")
    catalog = tenant.catalog()
    defs = build_definitions(catalog, str(tenant.warehouse))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, raise_on_error=False,
            tags={"workflow_platform/date_from": "2026-01-05", "workflow_platform/date_to": "2026-01-05"})
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        sensor = build_alert_sensors(catalog)[0]  # the failure sensor
        context = dg.build_run_status_sensor_context(
            sensor_name=sensor.name, dagster_instance=instance, dagster_run=result.dagster_run, dagster_event=failure,
            resources={"alert_channels": channels(slack, smtp)},
        ).for_run_failure()
        sensor(context)
    [message] = slack.messages
    assert message["text"].startswith("[ERROR] courier group daily: run failed")
    assert "load__people" in message["text"] and result.run_id in message["text"]
    [(recipients, content)] = smtp.messages
    assert recipients == ["ops@acme.example"]
    for value in ("secret.person", "other.person", "example.org"):  # customer values never leave the warehouse
        assert value not in message["text"] and value not in content


def test_success_alerts_are_opt_in_and_cancels_are_alerted(tenant, slack):
    tenant.write_catalog(people_catalog(["{name: id, tag: pk}"], rest="""\
courier_groups:
  - name: daily
    couriers: [shop]
    alert_on_success: true
alerts:
  courier_groups:
    slack: ["#data-alerts"]
"""))
    tenant.land("in/c_20260105.csv", "id\n1\n")
    catalog = tenant.catalog()
    defs = build_definitions(catalog, str(tenant.warehouse))
    _, success_sensor, cancel_sensor = build_alert_sensors(catalog)
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("courier_group__daily").execute_in_process(
            instance=instance, tags={"workflow_platform/date_from": "2026-01-05"})
        success = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_SUCCESS)
        resources = {"alert_channels": channels(slack, None)}
        success_sensor(dg.build_run_status_sensor_context(
            sensor_name=success_sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=success, resources=resources))
        cancel_sensor(dg.build_run_status_sensor_context(
            sensor_name=cancel_sensor.name, dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=success, resources=resources))
    texts = [m["text"] for m in slack.messages]
    assert texts[0].startswith("[INFO] courier group daily: run succeeded")
    assert texts[1].startswith("[WARNING] courier group daily: run canceled")
