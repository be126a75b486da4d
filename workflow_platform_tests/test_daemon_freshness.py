"""The freshness alert path with the real dagster-daemon (#18): a group's domain table is PASS for Dagster's
FreshnessDaemon until its last materialization is older than the group's longest gap between ticks plus its
runtime_threshold (here 1 minute + 1 minute); then it turns FAIL, and `courier_group_runtime_alerts`, which reads
the daemon's states through `instance.get_freshness_state_records` (not public in Dagster 1.13), alerts Slack once."""

import datetime as dt
import textwrap
import time

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
KEY = dg.AssetKey(["domain", "web"])  # the load's last asset carries the group's policy (presentation.py)


def test_the_freshness_daemon_turns_stale_data_into_a_data_not_fresh_alert(tmp_path, monkeypatch):
    home, data, catalog = daemon_tenant(tmp_path)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    (data / "landing" / f"web_{yesterday:%Y%m%d}.csv").write_text("id,email\n1,a@example.org\n")
    # every minute + a 1 minute threshold: stale 2 minutes after the last materialization
    (catalog / "catalog.yaml").write_text(textwrap.dedent(CATALOG.format(schedule="* * * * *", timezone="UTC")))

    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(data))  # the landing folder of the in-process run
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the daemon's instance, storages created here
        defs = build_definitions(load_catalog(catalog), str(data / "warehouse.duckdb"))
        assert defs.resolve_asset_graph().get(KEY).freshness_policy.fail_window.to_timedelta() == dt.timedelta(
            minutes=2)
        assert run_courier_group(defs, instance, yesterday.isoformat(), "late").success
        materialized = instance.get_latest_materialization_event(KEY).timestamp
    stale_at = materialized + 120

    slack = SlackServer()
    env = daemon_env(home, data, catalog, slack.url, FRESHNESS_DAEMON_INTERVAL_SECONDS="5")
    log_path = tmp_path / "daemon.log"
    states: list[tuple[float, str]] = []  # domain/web's state as the daemon recorded it, on each change
    try:
        with dagster_daemon(env, log_path), dg.DagsterInstance.from_config(str(home)) as instance:
            give_up = stale_at + 150
            while time.time() < give_up and not [m for m in slack.messages if "data not fresh" in m["text"]]:
                record = instance.get_freshness_state_records([KEY]).get(KEY)
                if record and (not states or states[-1][1] != record.freshness_state.value):
                    states.append((time.time(), record.freshness_state.value))
                time.sleep(1)
            time.sleep(12)  # two more sensor evaluations: the same FAIL is not alerted again
            final = instance.get_freshness_state_records([KEY])
    finally:
        slack.close()
    context = f"states {states}, materialized {materialized}\n{log_path.read_text()[-3000:]}"
    # fresh from the materialization until the window closes, FAIL after it
    assert [s for _, s in states] == ["PASS", "FAIL"], context
    assert states[0][0] < stale_at <= states[1][0], context
    assert {key: record.freshness_state.value for key, record in final.items()} == {KEY: "FAIL"}
    [alert] = [m["text"] for m in slack.messages if "data not fresh" in m["text"]]
    assert alert.startswith("[ERROR] courier group late: data not fresh"), alert
    assert "domain/web FAIL" in alert, alert
