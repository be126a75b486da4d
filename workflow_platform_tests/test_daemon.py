"""The real services: dagster-webserver and dagster-daemon started from the repo root with no arguments; a run
launched through the webserver's GraphQL API is queued, executed by the daemon in the warehouse pool, and loads
the demo tenant's files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb

from workflow_platform.demo.generate import generate_demo_data
from workflow_platform_tests.test_definitions import free_port

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=10).read())


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def location_loaded(port: int) -> bool:
    """True once the webserver has loaded the code location (it answers before that, with no jobs yet)."""
    entries = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                            "locationOrLoadError { __typename ... on PythonError { message } } } } } }")["data"]["workspaceOrError"]["locationEntries"]
    entry = next((e for e in entries if e["name"] == "workflow_platform"), None)
    if entry and entry["loadStatus"] == "LOADED":
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        return True
    return False


def test_daemon_runs_a_courier_group_launched_from_the_webserver(tmp_path):
    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    shutil.copy(REPO / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)):  # storages created once, before the services race to it
        pass
    summary = generate_demo_data(data / "landing", days=2, customers=200, seed=3)
    env = {**os.environ, "DAGSTER_HOME": str(home), "WORKFLOW_PLATFORM_DATA": str(data)}
    env.pop("WORKFLOW_PLATFORM_CATALOG", None)
    port = free_port()
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("webserver", "daemon")}  # noqa: SIM115
    services = [
        subprocess.Popen([str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env,
                         stdout=logs["webserver"], stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([str(BIN / "dagster-daemon"), "run"], cwd=REPO, env=env,
                         stdout=logs["daemon"], stderr=subprocess.STDOUT, start_new_session=True),
    ]
    try:
        wait_for(lambda: location_loaded(port), 180, "the webserver to load the code location")
        launched = graphql(port, """
            mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
              __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
            {"p": {"selector": {"repositoryLocationName": "workflow_platform", "repositoryName": "__repository__",
                                "jobName": "courier_group__daily_sources"},
                   "executionMetadata": {"tags": [
                       {"key": "workflow_platform/date_from", "value": summary.start.isoformat()},
                       {"key": "workflow_platform/date_to", "value": summary.end.isoformat()}]}}})
        assert launched["data"]["launchRun"]["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["data"]["launchRun"]["run"]["runId"]

        def finished():
            status = graphql(port, "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
                             {"id": run_id})["data"]["runOrError"]["status"]
            return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

        try:
            status = wait_for(finished, 180, "the run to finish")
        except AssertionError:
            status = "not finished"
        daemon_log = (tmp_path / "daemon.log").read_text()[-3000:]
        assert status == "SUCCESS", f"run {status}; daemon exit code {services[1].poll()}; daemon log:\n{daemon_log}"
        health = graphql(port, "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
        statuses = {d["daemonType"]: d["healthy"] for d in health["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]}
        assert statuses["QUEUED_RUN_COORDINATOR"] and statuses["SENSOR"] and statuses["SCHEDULER"]
    finally:
        for process in services:
            os.killpg(process.pid, signal.SIGTERM)
        for process in services:
            process.wait(timeout=60)
        for handle in logs.values():
            handle.close()
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
        loaded = conn.execute("SELECT count(*) FROM domain.loyalty_members").fetchone()[0]
        customers = conn.execute("SELECT count(*) FROM c360.customer_360").fetchone()[0]
    truth = (summary.truth_path).read_text().splitlines()[1:]
    members = {line.split(",")[1] for line in truth if line.startswith("loyalty_members,")}
    assert loaded == len(members)  # every member the files hold, once (upserts collapse re-sent rows)
    assert 0 < customers <= len(truth)
