"""The real services: dagster-webserver and dagster-daemon started from the repo root with no arguments; a run
launched through the webserver's GraphQL API is queued, executed by the daemon in the warehouse pool, and loads
the demo tenant's files; the daemon's sensor then launches the build run (Stitch, databases) after it."""

import duckdb
import pytest

from workflow_platform_tests.dagster_services import graphql, start_services

pytestmark = pytest.mark.slow  # dagster-webserver + dagster-daemon for a run of the demo tenant


def test_daemon_runs_a_courier_group_launched_from_the_webserver(tmp_path):
    services = start_services(tmp_path, days=2, customers=200, seed=3)
    try:
        run_id = services.launch("courier_group__daily_sources")
        status = services.wait_for_run(run_id, timeout=180)
        assert status == "SUCCESS", f"run {status}; daemon exit code {services.processes[1].poll()}\n{services.logs()}"
        build = services.run_after(run_id, timeout=120)  # sensor courier_groups__build, on the real daemon
        assert build["jobName"] == "build"
        assert {t["key"]: t["value"] for t in build["tags"]}["courier_group"] == "daily_sources"
        assert services.wait_for_run(build["runId"], timeout=180) == "SUCCESS", services.logs()
        assert services.latest_materialization("database/c360/customer_360")["run_id"] == build["runId"]
        health = graphql(services.port, "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
        statuses = {d["daemonType"]: d["healthy"] for d in health["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]}
        assert statuses["QUEUED_RUN_COORDINATOR"] and statuses["SENSOR"] and statuses["SCHEDULER"]
    finally:
        services.stop()
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as conn:
        loaded = conn.execute("SELECT count(*) FROM domain.loyalty_members").fetchone()[0]
        customers = conn.execute("SELECT count(*) FROM c360.customer_360").fetchone()[0]
    truth = services.summary.truth_path.read_text().splitlines()[1:]
    members = {line.split(",")[1] for line in truth if line.startswith("loyalty_members,")}
    assert loaded == len(members)  # every member the files hold, once (upserts collapse re-sent rows)
    assert 0 < customers <= len(truth)
