"""The freshness alert path with the real dagster-daemon (#18): a group's assets materialized before their
schedule tick T are PASS for Dagster's FreshnessDaemon until the deadline T + runtime_threshold passes with no
new materialization; then they turn FAIL, and `courier_group_runtime_alerts`, which reads the daemon's states
through `instance.get_freshness_state_records` (not public in Dagster 1.13), alerts Slack once."""

import datetime as dt
import textwrap
import time
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from workflow_platform.catalog.loader import load_catalog
from workflow_platform.definitions import build_definitions
from workflow_platform_tests.servers import SlackServer
from workflow_platform_tests.support import daemon_env, daemon_tenant, dagster_daemon, dated_couriers, run_courier_group

pytestmark = pytest.mark.slow  # the real dagster-daemon for about four minutes

# active: false: the group's schedule sensor is off, so nothing but the test materializes its assets
CATALOG = dated_couriers("web") + """\
feeds:
  - name: web
    source: web
    columns: [{{name: id, tag: pk}}, {{name: email, tag: email}}]
courier_groups:
  - name: late
    schedule: "{schedule}"
    timezone: {timezone}
    active: false
    couriers: [web]
    run_type: source
    runtime_threshold: 1 minute
alerts:
  courier_groups:
    slack: ["#data-alerts"]
"""
KEYS = [dg.AssetKey([layer, "web"]) for layer in ("courier", "feed", "domain")]


def test_the_freshness_daemon_turns_a_missed_deadline_into_a_data_not_fresh_alert(tmp_path, monkeypatch):
    home, data, catalog = daemon_tenant(tmp_path)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    (data / "landing" / f"web_{yesterday:%Y%m%d}.csv").write_text("id,email\n1,a@example.org\n")
    # a zone where the deadline stays within the day (a deadline past midnight is no cron: no cron policy)
    zone = "UTC" if dt.datetime.now(dt.UTC).hour < 22 else "Etc/GMT+6"
    (catalog / "catalog.yaml").write_text(textwrap.dedent(CATALOG.format(schedule="0 6 * * *", timezone=zone)))

    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(data))  # the landing folder of the in-process run
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the daemon's instance, storages created here
        defs = build_definitions(load_catalog(catalog), str(data / "warehouse.duckdb"))
        assert run_courier_group(defs, instance, yesterday.isoformat(), "late").success
        materialized = instance.get_latest_materialization_event(KEYS[0]).timestamp

    # the tick T, 1-2 minutes ahead (the daemon reads the catalog when it loads the code location, in seconds):
    # a daemon slowed by a loaded machine still evaluates PASS before the deadline D = T + 1 minute
    tick = dt.datetime.fromtimestamp((int(time.time()) + 60) // 60 * 60 + 60, ZoneInfo(zone))
    deadline = tick + dt.timedelta(minutes=1)
    (catalog / "catalog.yaml").write_text(textwrap.dedent(CATALOG.format(schedule=f"{tick:%M %H} * * *",
                                                                          timezone=zone)))
    slack = SlackServer()
    env = daemon_env(home, data, catalog, slack.url, FRESHNESS_DAEMON_INTERVAL_SECONDS="5")
    log_path = tmp_path / "daemon.log"
    states: list[tuple[float, str]] = []  # courier/web's state as the daemon recorded it, on each change
    try:
        with dagster_daemon(env, log_path), dg.DagsterInstance.from_config(str(home)) as instance:
            give_up = deadline.timestamp() + 150
            while time.time() < give_up and not [m for m in slack.messages if "data not fresh" in m["text"]]:
                record = instance.get_freshness_state_records([KEYS[0]]).get(KEYS[0])
                if record and (not states or states[-1][1] != record.freshness_state.value):
                    states.append((time.time(), record.freshness_state.value))
                time.sleep(1)
            time.sleep(12)  # two more sensor evaluations: the same FAIL is not alerted again
            final = instance.get_freshness_state_records(KEYS)
    finally:
        slack.close()
    context = f"states {states}, T {tick}, materialized {materialized}\n{log_path.read_text()[-3000:]}"
    assert materialized < tick.timestamp()
    # fresh from the materialization until the deadline, FAIL after it
    assert [s for _, s in states] == ["PASS", "FAIL"], context
    assert states[0][0] < deadline.timestamp() <= states[1][0], context
    assert {key: record.freshness_state.value for key, record in final.items()} == {key: "FAIL" for key in KEYS}
    [alert] = [m["text"] for m in slack.messages if "data not fresh" in m["text"]]
    assert alert.startswith("[ERROR] courier group late: data not fresh"), alert
    assert "courier/web FAIL, domain/web FAIL, feed/web FAIL" in alert, alert
    assert [m["channel"] for m in slack.messages] == ["#data-alerts"]  # nothing else was alerted
