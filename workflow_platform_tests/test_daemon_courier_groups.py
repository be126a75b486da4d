"""The real dagster-daemon runs courier groups on their schedule: a complete group launches and loads, an
incomplete one (stop when missing) launches nothing and alerts the local Slack and SMTP servers, once, and a
run still going past its group's runtime threshold is warned about, once. On the local instance (SQLite) and on
the production one (deploy/dagster.yaml, PostgreSQL)."""

import datetime as dt
import textwrap
import time

import dagster as dg
import duckdb
import pytest

from workflow_platform_tests.servers import SlackServer
from workflow_platform_tests.support import (
    Inbox,
    daemon_env,
    daemon_tenant,
    dagster_daemon,
    dated_couriers,
    free_port,
    wait_until,
)

pytestmark = pytest.mark.slow  # the real dagster-daemon for a few minutes

CATALOG = dated_couriers("web", "club") + """\
feeds:
  - name: web
    source: web
    columns: [{name: id, tag: pk}, {name: email, tag: email}]
  - name: club
    source: club
    columns: [{name: id, tag: pk}]
courier_groups:
  - name: complete
    schedule: "* * * * *"
    couriers: [{courier: web}]
    run_type: source
    runtime_threshold: 10 seconds
  - name: incomplete
    schedule: "* * * * *"
    couriers: [{courier: club, stop_when_missing: true}]
    run_type: source
alerts:
  courier_groups:
    slack: ["#data-alerts"]
    email: [ops@acme.example]
"""


def test_the_daemon_runs_scheduled_courier_groups_and_alerts_once(tmp_path, monkeypatch, instance_yaml):
    from aiosmtpd.controller import Controller

    home, data, catalog = daemon_tenant(tmp_path, instance_yaml)  # SQLite, then PostgreSQL storage
    (catalog / "catalog.yaml").write_text(textwrap.dedent(CATALOG))
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    (data / "landing" / f"web_{yesterday:%Y%m%d}.csv").write_text("id,email\n1,a@example.org\n2,b@example.org\n")

    slack, inbox = SlackServer(), Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = daemon_env(home, data, catalog, slack.url, WORKFLOW_PLATFORM_SMTP_HOST="127.0.0.1",
                     WORKFLOW_PLATFORM_SMTP_PORT=str(smtp.port))
    try:
        with dagster_daemon(env, tmp_path / "daemon.log"):
            monkeypatch.setenv("DAGSTER_HOME", str(home))  # read the daemon's instance from this process
            with dg.DagsterInstance.get() as instance:
                # a run of the group that is still going (its worker is elsewhere): the runtime sensor must warn
                instance.add_run(dg.DagsterRun(job_name="courier_group__complete", run_id="still-going",
                                               status=dg.DagsterRunStatus.STARTED,
                                               tags={"courier_group": "complete"}))  # as the job tags its runs

                def succeeded():
                    runs = instance.get_runs(dg.RunsFilter(job_name="courier_group__complete",
                                                           statuses=[dg.DagsterRunStatus.SUCCESS]))
                    return runs or None

                runs = wait_until(succeeded, 150)
                assert runs, ("no successful run of the complete group:\n"
                              + (tmp_path / "daemon.log").read_text()[-3000:])
                assert all(r.tags["dagster/sensor_name"] == "courier_group__complete__schedule" for r in runs)
                assert len({r.tags["dagster/run_key"] for r in runs}) == len(runs)  # one run per tick
                assert wait_until(lambda: [m for m in slack.messages if "files missing" in m["text"]], 60)
                assert wait_until(lambda: [m for m in slack.messages if "runs/still-going" in m["text"]], 60)
                time.sleep(15)  # later ticks: the same missing file and the same slow run are not alerted again
                incomplete = instance.get_runs(dg.RunsFilter(job_name="courier_group__incomplete"))
    finally:
        smtp.stop()
        slack.close()
    assert incomplete == []  # stop when missing: nothing launched
    # once per tick: the group ticks every minute, and a slow machine may see a second tick (a new miss) stop too
    missing = [m["text"] for m in slack.messages if "files missing" in m["text"]]
    assert missing and len(missing) == len(set(missing)), missing
    assert all(m.startswith("[ERROR] courier group incomplete: files missing") for m in missing)
    assert f"club_{yesterday:%Y%m%d}.csv for {yesterday}" in missing[0]
    assert [rcpt for rcpt, content in inbox.messages if "files missing" in content] == [["ops@acme.example"]] * len(missing)
    slow = [m["text"] for m in slack.messages if "runs/still-going" in m["text"]]
    assert len(slow) == 1 and slow[0].startswith("[WARNING] courier group complete: runtime over threshold")
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT id FROM domain.web ORDER BY id").fetchall() == [("1",), ("2",)]
