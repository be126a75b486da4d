"""The warehouse under concurrency, with the real dagster-webserver and dagster-daemon.

The test process holds DuckDB's write lock on the warehouse while the services start, their sensors tick and the
webserver's code server evaluates the schedules: none of that fails or waits, so no code server (sensors,
schedules, definitions) opens the warehouse, which /proc/<pid>/fd confirms throughout. Meanwhile two scheduled
courier groups and a manual run of one of them are launched together; they wait for the lock, then all succeed
through the warehouse pool (no two warehouse steps at once), and an export run beside them reads inside the pool.
The warehouse ends with every row once. On the local instance (SQLite) and on the production one (PostgreSQL).
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import os
import textwrap
import threading
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from workflow_platform.catalog.loader import load_catalog
from workflow_platform.definitions import build_definitions
from workflow_platform.resources import WAREHOUSE_POOL
from workflow_platform.settings import DEMO_CATALOG
from workflow_platform_tests.dagster_services import LOCATION, Services, graphql, start_services_for, wait_for

WEB, CLUB = 300, 200  # rows in the two couriers' files
GROUP_JOBS = ("courier_group__alpha", "courier_group__beta")
SCHEDULES = ("orchestration_group__nightly__schedule", "campaign__promo__schedule")
SENSORS = ("courier_group__alpha__schedule", "courier_group__beta__schedule", "courier_group_runtime_alerts",
           "workflow_failure_alerts", "workflow_success_alerts", "workflow_cancel_alerts")


def catalog_text(tick: dt.datetime) -> str:
    """Two courier groups scheduled daily at `tick` (just past, so the daemon launches each once, at once)."""
    cron = f"{tick.minute} {tick.hour} * * *"
    return textwrap.dedent(f"""
        couriers:
          - {{name: web, pattern: "'web_'yyyyMMdd'.csv'", feed: web}}
          - {{name: club, pattern: "'club_'yyyyMMdd'.csv'", feed: club}}
        feeds:
          - {{name: web, source: web, columns: [{{name: id, tag: pk}}, {{name: email, tag: email}}]}}
          - {{name: club, source: club, columns: [{{name: id, tag: pk}}, {{name: tier}}]}}
        courier_groups:
          - {{name: alpha, schedule: "{cron}", couriers: [web], run_type: source, runtime_threshold: 10 minutes}}
          - {{name: beta, schedule: "{cron}", couriers: [club], run_type: source}}
        segments:
          - {{name: web_people, sql: "SELECT id AS customer_id, email FROM domain.web"}}
        destinations:
          - {{name: out, url: exports}}
        orchestrations:
          - {{name: web_out, segment: web_people, destination: out, filename: web_people.csv, workflow: automatic}}
        orchestration_groups:
          - {{name: nightly, orchestrations: [web_out], schedule: "0 3 * * *"}}
        campaigns:
          - name: promo
            segment: web_people
            recurrence: daily
            start: 2099-01-01T03:00:00
            sub_audiences: [{{name: all, percent: 100, destinations: [out]}}]
        """)


# ------------------------------------------------------------------------------------- who has the file open


def children(pid: int) -> list[int]:
    kids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids += [int(k) for k in handle.read().split()]
    except OSError:
        pass
    return kids


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def open_paths(pid: int) -> set[str]:
    paths = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return paths
    for fd in fds:
        try:
            paths.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return paths


class OpenFileWatch(threading.Thread):
    """Samples /proc every 50 ms: the webserver, the daemon and their code servers (`dagster api grpc`) must never
    have the warehouse (or its WAL) open; run workers, the code servers' children, may."""

    def __init__(self, services: Services, warehouse: Path):
        super().__init__(daemon=True)
        self.services, self.prefix = services, str(warehouse)
        self.samples, self.code_servers, self.worker_hits = 0, set(), 0
        self.offenders: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for service in self.services.processes:
                self._visit(service.pid, service=True)
            self.samples += 1
            time.sleep(0.05)

    def _visit(self, pid: int, service: bool) -> None:
        command = cmdline(pid)
        code_server = "api grpc" in command
        holds = any(path.startswith(self.prefix) for path in open_paths(pid))
        if code_server:
            self.code_servers.add(pid)
        if holds and (service or code_server):
            self.offenders.append(f"{pid}: {command[:120]}")
        elif holds:
            self.worker_hits += 1
        for kid in children(pid):
            self._visit(kid, service=False)

    def stop(self) -> None:
        self.done.set()
        self.join(10)


# ------------------------------------------------------------------------------------------------- helpers


def launch(services: Services, job: str, tags: dict[str, str]) -> str:
    answer = graphql(services.port, """
        mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
          __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
                     {"p": {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                                         "jobName": job},
                            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}})
    assert answer["data"]["launchRun"]["__typename"] == "LaunchRunSuccess", answer
    return answer["data"]["launchRun"]["run"]["runId"]


def schedule_dry_run(services: Services, name: str) -> dict:
    """Evaluate a schedule in the webserver's code server, as the UI's "Test schedule" does."""
    answer = graphql(services.port, """
        mutation($s: ScheduleSelector!, $t: Float) { scheduleDryRun(selectorData: $s, timestamp: $t) {
          __typename ... on DryRunInstigationTick { evaluationResult { skipReason runRequests { runKey }
            error { message } } } ... on PythonError { message } } }""",
                     {"s": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__",
                            "scheduleName": name}, "t": time.time()})
    return answer["data"]["scheduleDryRun"]


def ticks_by_sensor(instance: dg.DagsterInstance) -> dict[str, list]:
    return {state.instigator_name: instance.get_ticks(state.instigator_origin_id, state.selector_id)
            for state in instance.all_instigator_state() if state.instigator_type.value == "SENSOR"}


def finished(tick) -> bool:
    return tick.status.value in ("SUCCESS", "SKIPPED", "FAILURE")


def runs_of(instance: dg.DagsterInstance, jobs: tuple[str, ...]) -> list[dg.RunRecord]:
    return [r for r in instance.get_run_records() if r.dagster_run.job_name in jobs]


def step_windows(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, float, float]]:
    """(step, start, end) of every step of the run, from its event log."""
    starts, ends = {}, {}
    for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                                                    dg.DagsterEventType.STEP_FAILURE}):
        (starts if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START else ends)[entry.step_key] = \
            entry.timestamp
    return [(step, start, ends.get(step, float("inf"))) for step, start in starts.items()]


# ------------------------------------------------------------------------------------------------- tests


def test_every_op_that_opens_the_warehouse_is_in_the_pool_and_no_sensor_or_schedule_can():
    """Across the demo tenant (couriers, feeds, Stitch, databases, segments, orchestrations, campaigns)."""
    defs = build_definitions(load_catalog(DEMO_CATALOG), "/nonexistent/warehouse.duckdb")
    ops = {node.definition for job in defs.jobs for node in defs.resolve_job_def(job.name).graph.nodes}
    users = [op for op in ops if "warehouse" in op.required_resource_keys]
    assert len(users) >= 10
    assert [op.name for op in users if op.pool != WAREHOUSE_POOL] == []
    instigators = [*defs.sensors, *defs.schedules]
    assert instigators
    assert [i.name for i in instigators if "warehouse" in i.required_resource_keys] == []


@pytest.mark.slow  # dagster-webserver + dagster-daemon running concurrent runs
def test_concurrent_runs_share_the_warehouse_and_code_servers_never_open_it(tmp_path, instance_yaml):
    now = dt.datetime.now(dt.UTC)
    tick = (now - dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    day = tick.date() - dt.timedelta(days=1)  # what the tick's run loads (look-back one day)
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "catalog.yaml").write_text(catalog_text(tick))
    landing = tmp_path / "data" / "landing"
    landing.mkdir(parents=True)
    (landing / f"web_{day:%Y%m%d}.csv").write_text(
        "id,email\n" + "".join(f"{i},p{i}@example.org\n" for i in range(WEB)))
    (landing / f"club_{day:%Y%m%d}.csv").write_text("id,tier\n" + "".join(f"{i},gold\n" for i in range(CLUB)))
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    day_tags = {"workflow_platform/date_from": day.isoformat(), "workflow_platform/date_to": day.isoformat()}

    holder = duckdb.connect(str(warehouse))  # DuckDB's write lock: nobody else can open the file, even read-only
    assert any(p.startswith(str(warehouse)) for p in open_paths(os.getpid()))  # what the watch looks for
    services = watch = None
    try:
        services = start_services_for(tmp_path, tmp_path / "catalog", {"WORKFLOW_PLATFORM_SENSOR_INTERVAL": "2"},
                                      instance_yaml)  # SQLite, then PostgreSQL storage
        watch = OpenFileWatch(services, warehouse)
        watch.start()
        manual = launch(services, "courier_group__alpha", day_tags)  # by hand, beside the scheduled runs
        with dg.DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
            def every_sensor_ticked():
                ticks = ticks_by_sensor(instance)
                done = {name: [t for t in ticks.get(name, []) if finished(t)] for name in SENSORS}
                return all(len(done[n]) >= (2 if n.startswith("courier_group__") else 1) for n in SENSORS)

            wait_for(every_sensor_ticked, 60, "every sensor to tick while the warehouse is locked")
            wait_for(lambda: len(runs_of(instance, GROUP_JOBS)) == 3, 30, "the scheduled runs to be launched")
            wait_for(lambda: any(step_windows(instance, r.dagster_run.run_id) for r in runs_of(instance, GROUP_JOBS)),
                     60, "a warehouse step to start (it waits for the lock)")
            dry_runs = {name: schedule_dry_run(services, name) for name in SCHEDULES}
            assert all(r.dagster_run.status != dg.DagsterRunStatus.SUCCESS for r in runs_of(instance, GROUP_JOBS))
            released = time.time()
            holder.close()

            def first_alpha_done():
                return [r for r in runs_of(instance, ("courier_group__alpha",))
                        if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]

            wait_for(first_alpha_done, 60, "a run of alpha to succeed")
            export = launch(services, "orchestration_group__nightly", {})  # reads while beta or alpha may write
            statuses = {run_id: services.wait_for_run(run_id, timeout=60)
                        for run_id in [r.dagster_run.run_id for r in runs_of(instance, GROUP_JOBS)] + [export]}
            watch.stop()
            records = runs_of(instance, (*GROUP_JOBS, "orchestration_group__nightly"))
            windows = {r.dagster_run.run_id: step_windows(instance, r.dagster_run.run_id) for r in records}
            ticks = ticks_by_sensor(instance)
    finally:
        holder.close()
        if watch:
            watch.stop()
        if services:
            services.stop()

    assert set(statuses.values()) == {"SUCCESS"}, f"{statuses}\n{services.logs()}"
    assert manual in statuses and len(statuses) == 4
    scheduled = [r for r in records if r.dagster_run.tags.get("dagster/sensor_name")]
    assert sorted(r.dagster_run.job_name for r in scheduled) == sorted(GROUP_JOBS)
    group_runs = [r for r in records if r.dagster_run.job_name in GROUP_JOBS]
    for a in group_runs:  # all three were in flight together: each created before any of them ended
        assert all(a.create_timestamp.timestamp() < b.end_time for b in group_runs)

    # the code servers evaluated every sensor and schedule while the warehouse was locked, without error or wait
    for name in SENSORS:
        during = [t for t in ticks[name] if finished(t) and t.end_timestamp < released]
        assert during and all(t.status.value != "FAILURE" for t in during), name
        assert all(t.end_timestamp - t.timestamp < 10 for t in during), name
    for name, tick_list in ticks.items():
        errors = [t.error.to_string() for t in tick_list if t.error]
        assert errors == [], f"{name}: {errors}"
    for name, result in dry_runs.items():
        assert result["__typename"] == "DryRunInstigationTick", result
        assert result["evaluationResult"]["error"] is None, (name, result)
    assert dry_runs["orchestration_group__nightly__schedule"]["evaluationResult"]["runRequests"]
    assert "starts" in dry_runs["campaign__promo__schedule"]["evaluationResult"]["skipReason"]

    # /proc: no service or code server ever had the warehouse open; run workers did. Locally the webserver and the
    # daemon each start a code server; deployed (PostgreSQL), both use the one code server of deploy/
    assert watch.samples > 100 and len(watch.code_servers) >= (1 if services.deployed else 2)
    assert watch.offenders == []
    assert watch.worker_hits > 0

    # the warehouse pool: one warehouse step at a time across runs, none before the lock was released
    steps = sorted((start, end, run_id, step) for run_id, found in windows.items() for step, start, end in found)
    assert len(steps) == 5  # load__web twice, load__club, segment__web_people, orchestration__web_out
    assert steps[0][0] < released < min(end for _, end, _, _ in steps)  # the first one waited for the lock
    for (_, end, *first), (start, _, *second) in itertools.pairwise(steps):
        assert end <= start, f"{first} and {second} overlapped"

    # every row once: two loads of the same web file upsert, nothing lost or doubled
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        web = conn.execute("SELECT count(*), count(DISTINCT id), min(id::INT), max(id::INT) FROM domain.web").fetchone()
        club = conn.execute("SELECT count(*), count(DISTINCT id) FROM domain.club").fetchone()
    assert web == (WEB, WEB, 0, WEB - 1) and club == (CLUB, CLUB)
    with open(tmp_path / "data" / "exports" / "web_people.csv", newline="") as handle:
        exported = list(csv.DictReader(handle))
    assert len(exported) == WEB and len({row["customer_id"] for row in exported}) == WEB

