"""Alert delivery never stalls automation: a Slack or SMTP server that accepts connections and never answers
costs at most the delivery budget, a sensor still requests its run and keeps its cursor, what was not delivered
is tried again at the next evaluation, and what cannot be delivered is reported on the channels that work."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time

import dagster as dg
import pytest

from workflow_platform.alerts import dispatch
from workflow_platform.alerts.dispatch import OUTBOX_TRIES, deliver, deliver_all
from workflow_platform.alerts.resource import AlertChannelsResource
from workflow_platform.automation.courier_groups import build_courier_group_sensors
from workflow_platform_tests.servers import BlackHole, SlackServer
from workflow_platform_tests.support import ALERT, SETTINGS, TICK, channels, group, land


@pytest.fixture
def black_hole():
    server = BlackHole()
    yield server
    server.close()


@pytest.fixture
def short_budget(monkeypatch):
    """Budgets of a few seconds keep the tests short; the bound they prove scales with the budget."""
    monkeypatch.setattr(dispatch, "BUDGET_SECONDS", 4.0)
    monkeypatch.setattr(dispatch, "SENSOR_BUDGET_SECONDS", 4.0)
    monkeypatch.setattr(dispatch, "PER_TRY_SECONDS", 2.0)


def hung_channels(hole: BlackHole) -> AlertChannelsResource:
    return AlertChannelsResource(slack_token="xoxb-test", slack_api_url=hole.url, smtp_host="127.0.0.1",
                                 smtp_port=hole.port)


def test_servers_that_never_answer_cost_at_most_the_budget(black_hole, short_budget, caplog):
    resource = hung_channels(black_hole)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="workflow_platform.alerts"):
        deliveries = deliver(ALERT, SETTINGS, resource.slack(), resource.email(), backoff=0)
    elapsed = time.monotonic() - started
    assert elapsed < 4.0 + 2.5, elapsed  # the budget, plus at most one second of rounding per channel
    assert {d.channel: d.ok for d in deliveries} == {"slack": False, "email": False, "log": True}
    assert len(black_hole.connections) >= 1
    assert "alert delivery failed on slack (#data-alerts)" in caplog.text


def test_the_default_budget_bounds_one_alert_within_a_sensor_evaluation():
    # Dagster cuts a sensor evaluation at 60 s: a sensor's alerts share SENSOR_BUDGET_SECONDS, one step alert
    # BUDGET_SECONDS, and one connection attempt PER_TRY_SECONDS
    assert dispatch.SENSOR_BUDGET_SECONDS + dispatch.PER_TRY_SECONDS < 60
    assert dispatch.PER_TRY_SECONDS <= dispatch.BUDGET_SECONDS <= dispatch.SENSOR_BUDGET_SECONDS


def test_a_sensor_requests_its_run_while_slack_and_smtp_hang_then_delivers_later(
        tenant, black_hole, short_budget, smtp, monkeypatch):
    import workflow_platform.automation.courier_groups as module

    catalog, _daily = group(tenant)
    land(tenant, "club")  # web is missing: at TICK + 3 h its wait is over, the run goes on without it

    class FixedNow(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return TICK + dt.timedelta(hours=3)

    monkeypatch.setattr(module.dt, "datetime", FixedNow)
    [sensor] = build_courier_group_sensors(catalog)
    with dg.instance_for_test() as instance:
        started = time.monotonic()
        first = sensor(dg.build_sensor_context(instance=instance,
                                               resources={"alert_channels": hung_channels(black_hole)}))
        assert time.monotonic() - started < 4.0 + 5  # the alert budget, plus listing the landing folder
        assert [r.run_key for r in first.run_requests] == ["daily:2026-01-06T06:00:00+00:00"]
        cursor = json.loads(first.cursor)
        [waiting] = cursor["outbox"]
        assert waiting["alert"]["kind"] == "missing_files" and waiting["targets"] == ["slack:#data-alerts"]
        # the next evaluation, with the channels back: the alert goes out once, the outbox empties
        slack = SlackServer()
        try:
            second = sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                                    resources={"alert_channels": channels(slack, smtp)}))
            assert second.run_requests == []
            assert json.loads(second.cursor)["outbox"] == []
            [message] = slack.messages
            assert "files missing" in message["text"] and "Runs: http://127.0.0.1:3000/runs?q[]=" in message["text"]
        finally:
            slack.close()


def test_a_permanent_slack_error_is_not_retried_and_is_reported_on_email(smtp, caplog):
    refusing = SlackServer(error="channel_not_found")
    try:
        resource = channels(refusing, smtp)
        with caplog.at_level(logging.ERROR, logger="workflow_platform.alerts"):
            outbox = deliver_all([ALERT], [], SETTINGS, resource.slack(), resource.email(), logging.getLogger("t"))
        assert refusing.refused == 1  # one try: no retry can create the channel
        assert outbox == []  # given up at once
        subjects = [content for _, content in smtp.messages]
        assert any("alert not delivered" in c and "channel_not_found" in c for c in subjects)
    finally:
        refusing.close()


def test_an_alert_a_channel_keeps_failing_is_tried_at_each_evaluation_then_given_up(smtp):
    failing = SlackServer(fail_first=10_000)
    try:
        resource = channels(failing, smtp)
        outbox = deliver_all([ALERT], [], SETTINGS, resource.slack(), resource.email(), logging.getLogger("t"))
        assert [e["targets"] for e in outbox] == [["slack:#data-alerts"]]  # email took it; Slack is retried
        delivered_by_email = len(smtp.messages)
        for _ in range(OUTBOX_TRIES - 1):
            outbox = deliver_all([], outbox, SETTINGS, resource.slack(), resource.email(), logging.getLogger("t"))
        assert outbox == []
        notices = [content for _, content in smtp.messages[delivered_by_email:]]
        assert len(notices) == 1 and "alert not delivered" in notices[0]
        assert f"after {OUTBOX_TRIES} evaluation(s)" in notices[0]
    finally:
        failing.close()


def test_an_email_subject_stays_on_one_line(smtp):
    long_group = ALERT.__class__(**{**ALERT.__dict__, "group": "daily_sources_of_the_north_american_stores_and_web"})
    resource = channels(None, smtp)
    deliver(long_group, SETTINGS, None, resource.email(), backoff=0)
    [(_, content)] = smtp.messages
    subject = next(line for line in content.splitlines() if line.startswith("Subject:"))
    assert subject.endswith("files missing") and len(subject) > 78  # not folded onto a second line
