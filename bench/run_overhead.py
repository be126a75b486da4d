"""Benchmark: a courier-group run of many small couriers as the daemon launches it, per run executor.

The script writes a catalog of N small couriers (default 10), each loading its own feed (5 columns: a pk, given
name, surname, email, updated_at; 100 rows in one file for one day) into its own domain table, all in one courier
group. By default the group has ``run_type: source`` (ingest only: courier -> feed -> domain, one ``load__<feed>``
step per feed, so 10 steps, all in the ``warehouse`` pool); ``--full`` adds a ``customer_360`` database and makes the
group ``run_type: full``: its run still holds the loads only (what is measured here), and the daemon's sensor
``courier_groups__build`` then launches the Stitch and database steps as a run of job ``build`` (not measured).

For each executor (``WORKFLOW_PLATFORM_EXECUTOR`` = ``in_process`` | ``multiprocess`` (spawn) | ``forkserver``) it
starts a fresh ``dagster-webserver`` + ``dagster-daemon`` from the repo root (temp ``DAGSTER_HOME`` with the repo's
``.dagster_home/dagster.yaml``, whose warehouse pool admits one step at a time; a fresh warehouse), waits until the
code location is LOADED and the run queue daemon is healthy, then for ``--repeat`` runs:

* launches the group's job through GraphQL ``launchRun`` (tags ``workflow_platform/date_from``/``date_to``) and
  polls the run's status every 0.2 s: WALL = launch call -> SUCCESS seen;
* reads the run record (``startTime``/``endTime``: RUN_START -> RUN_SUCCESS, the run as Dagster counts it) and
  the run's event log (``DagsterInstance.all_logs``): queue wait (RUN_ENQUEUED -> RUN_DEQUEUED), run worker start
  (RUN_DEQUEUED -> RUN_START: a new Python process importing dagster and the code location), each step's
  STEP_START -> STEP_SUCCESS, the gaps between steps (pool claims, step process starts), and the product's own
  work inside the steps (the ``elapsed_seconds`` metadata of the courier/feed/domain materializations).

The runs of one executor reload the same file (run 1 loads into empty tables, later runs upsert the same keys;
``--fresh-warehouse`` deletes the warehouse before each run instead).

BASELINE, the in-process floor: the same job through ``execute_in_process`` in one Python process (no webserver,
no daemon, no queue), in a child process of its own right after each daemon run (while the services idle, so
floor and daemon runs meet the same machine), on its own temp ``DAGSTER_HOME`` with the same dagster.yaml and a
warehouse emptied at the start of each executor's block (floor run k loads like that executor's run k). The floor
is the ``execute_in_process`` call (run creation, planned events and the run); the child's import and definitions
build are reported beside it. Reported per executor: WALL (median, min), run start -> end, overhead (wall - run), the
ratio wall / floor, and PASS/FAIL for the issue's target: median WALL <= 10 s. A benchmark, not a test: the
exit code is 0 unless something crashed or a run did not succeed (1). The last line of output is the figures as
one JSON line.

    .venv/bin/python bench/run_overhead.py                      # 10 couriers, 3 executors, 3 runs each
    .venv/bin/python bench/run_overhead.py --full --repeat 2
    .venv/bin/python bench/run_overhead.py --executors in_process --dequeue-interval 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)


REPO = Path(__file__).resolve().parent.parent

BIN = Path(sys.executable).parent
EXECUTORS = ("in_process", "multiprocess", "forkserver")
LABELS = {"in_process": "in_process", "multiprocess": "multiprocess (spawn)", "forkserver": "forkserver",
          "floor": "execute_in_process floor"}
TARGET_SECONDS = 10.0
DAY = dt.date(2026, 1, 5)
GROUP = "bench"
JOB = f"courier_group__{GROUP}"
LOCATION = "workflow_platform"
FIRST_NAMES = ["Ann", "Bob", "Chloé", "Dan", "Eve", "José", "Kim", "Lee", "Mia", "Noah"]
LAST_NAMES = ["Lee", "Smith", "O'Brien", "García", "Nguyen", "Brown", "Müller", "Khan", "Rossi", "Silva"]

# --------------------------------------------------------------------------- catalog and files


def courier_name(index: int) -> str:
    return f"c{index:02d}"


def catalog_text(couriers: int, landing: Path, full: bool) -> str:
    """N couriers, each with its own 5-column feed, in one courier group (source, or full with a customer_360)."""
    lines = ["tenant: bench", "locations:", "  - name: landing", f"    url: {json.dumps(str(landing))}", "couriers:"]
    for i in range(1, couriers + 1):
        name = courier_name(i)
        lines += [f"  - name: {name}", f"    pattern: \"'in/{name}_'yyyyMMdd'.csv'\"", f"    feed: {name}"]
    lines.append("feeds:")
    for i in range(1, couriers + 1):
        name = courier_name(i)
        lines += [f"  - name: {name}", f"    source: src_{name}", "    last_updated: updated_at", "    columns:",
                  "      - {name: id, type: string, tag: pk}",
                  "      - {name: given_name, tag: given-name}",
                  "      - {name: surname, tag: surname}",
                  "      - {name: email, tag: email}",
                  "      - {name: updated_at, type: datetime, format: \"yyyy-MM-dd HH:mm:ss\"}"]
    if full:
        lines += ["databases:", "  - name: c360", "    type: customer_360"]
    lines += ["courier_groups:", f"  - name: {GROUP}", f"    run_type: {'full' if full else 'source'}",
              f"    couriers: [{', '.join(courier_name(i) for i in range(1, couriers + 1))}]"]
    return "\n".join(lines) + "\n"


def write_files(couriers: int, rows: int, landing: Path) -> int:
    """One CSV per courier for DAY; the same people across couriers (so Stitch has links to make with --full)."""
    total = 0
    for i in range(1, couriers + 1):
        path = landing / "in" / f"{courier_name(i)}_{DAY:%Y%m%d}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        out = ["id,given_name,surname,email,updated_at"]
        for n in range(1, rows + 1):
            first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n * 7 + i) % len(LAST_NAMES)]
            email = f" {first.lower()}.p{n}@example.org " if n % 5 == 0 else f"{first}.P{n}@Example.org"
            out.append(f"{courier_name(i)}-{n},{first},\"{last}\",{email},2026-01-0{1 + n % 5} 0{n % 10}:00:00")
        path.write_text("\n".join(out) + "\n", encoding="utf-8")
        total += path.stat().st_size
    return total


def make_home(folder: Path, dequeue_interval: int | None) -> Path:
    """A DAGSTER_HOME with the repo's dagster.yaml (its warehouse pool limit kept), plus the run queue's dequeue
    interval when a variant asks for one."""
    folder.mkdir(parents=True)
    text = (REPO / ".dagster_home" / "dagster.yaml").read_text()
    if dequeue_interval is not None:
        text += f"\n# bench/run_overhead.py --dequeue-interval\nrun_queue:\n  dequeue_interval_seconds: {dequeue_interval}\n"
    (folder / "dagster.yaml").write_text(text)
    return folder


# --------------------------------------------------------------------------- the run's event log


def analyze(records) -> dict:
    """Where a run's time went, from its event log records (EventLogEntry; timestamps in seconds)."""
    # enum names (RUN_START ...): the stored values keep old names (PIPELINE_START ...)
    events = [(r.timestamp, r.dagster_event.event_type.name, r.dagster_event.step_key, r)
              for r in records if r.dagster_event is not None]
    events.sort(key=lambda e: e[0])

    def first(kind: str) -> float | None:
        return next((t for t, k, _, _ in events if k == kind), None)

    steps: dict[str, dict] = {}
    for t, kind, step, record in events:
        if not step:
            continue
        info = steps.setdefault(step, {"step": step, "work": 0.0})
        if kind in ("STEP_WORKER_STARTING", "STEP_WORKER_STARTED", "STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            info.setdefault(kind, t)
        elif kind == "ASSET_MATERIALIZATION":
            metadata = record.dagster_event.event_specific_data.materialization.metadata
            if "elapsed_seconds" in metadata:
                info["work"] += float(metadata["elapsed_seconds"].value)
    ordered = sorted((s for s in steps.values() if "STEP_START" in s), key=lambda s: s["STEP_START"])
    out_steps, previous_end = [], None
    for s in ordered:
        end = s.get("STEP_SUCCESS") or s.get("STEP_FAILURE")
        body = end - s["STEP_START"] if end else None
        out_steps.append({
            "step": s["step"],
            "body_s": body,
            "work_s": s["work"],  # the product's Stopwatch seconds (courier + feed + merge)
            # multiprocess/forkserver: STEP_WORKER_STARTING -> STEP_START is the step process starting (spawn or
            # fork, imports, the code location loaded again, resources); before it, the step waited for its pool slot
            "worker_start_s": (s["STEP_START"] - s["STEP_WORKER_STARTING"]) if "STEP_WORKER_STARTING" in s else None,
            "pool_wait_s": (s["STEP_WORKER_STARTING"] - previous_end)
            if "STEP_WORKER_STARTING" in s and previous_end is not None else None,
            "gap_before_s": (s["STEP_START"] - previous_end) if previous_end is not None else None,
        })
        previous_end = end
    run_start, run_end = first("RUN_START"), first("RUN_SUCCESS") or first("RUN_FAILURE")
    enqueued, dequeued, starting = first("RUN_ENQUEUED"), first("RUN_DEQUEUED"), first("RUN_STARTING")
    bodies = [s["body_s"] for s in out_steps if s["body_s"] is not None]
    gaps = [s["gap_before_s"] for s in out_steps if s["gap_before_s"] is not None]
    spawns = [s["worker_start_s"] for s in out_steps if s["worker_start_s"] is not None]
    waits = [s["pool_wait_s"] for s in out_steps if s["pool_wait_s"] is not None]

    def span(a, b):
        return b - a if a is not None and b is not None else None

    return {
        # Dagster 1.13 writes no RUN_DEQUEUED: RUN_STARTING is the daemon taking the run off the queue
        "queued_s": span(enqueued, dequeued or starting),
        "worker_start_s": span(dequeued or starting, run_start),  # the run worker: new process, imports, load
        "run_s": span(run_start, run_end),
        "before_first_step_s": span(run_start, ordered[0]["STEP_START"]) if ordered else None,
        "steps_body_s": sum(bodies),
        "steps_work_s": sum(s["work_s"] for s in out_steps),
        "between_steps_s": sum(gaps),
        "pool_wait_s": sum(waits) if waits else None,
        "step_process_start_s": sum(spawns) if spawns else None,
        "after_last_step_s": span(previous_end, run_end),
        "step_count": len(out_steps),
        "step_body_median_s": statistics.median(bodies) if bodies else None,
        "gap_median_s": statistics.median(gaps) if gaps else None,
        "gap_max_s": max(gaps) if gaps else None,
        "step_process_start_median_s": statistics.median(spawns) if spawns else None,
        "enqueued_at": enqueued, "run_start_at": run_start, "run_end_at": run_end,
        "steps": out_steps,
    }


# --------------------------------------------------------------------------- the floor (child process)


def run_floor_child(args: argparse.Namespace) -> int:
    """One execute_in_process of the group's job in this (fresh) process; timings to --result."""
    started = time.perf_counter()
    import dagster as dg

    from workflow_platform.catalog.loader import load_catalog
    from workflow_platform.definitions import build_definitions
    imported = time.perf_counter()
    defs = build_definitions(load_catalog(args.catalog), str(args.warehouse))
    job = defs.resolve_job_def(JOB)
    built = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        mark = time.perf_counter()
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            tags={"workflow_platform/date_from": DAY.isoformat(), "workflow_platform/date_to": DAY.isoformat()},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}})
        execute = time.perf_counter() - mark
        analysis = analyze(instance.all_logs(result.run_id))
    args.result.write_text(json.dumps({
        "success": result.success, "import_s": imported - started, "build_s": built - imported,
        "execute_s": execute, "analysis": analysis}))
    return 0


class Floor:
    """The in-process floor: one execute_in_process per call, each in a fresh child process, on its own
    DAGSTER_HOME (the same dagster.yaml) and warehouse. Its runs are interleaved with the daemon runs (one after
    each, while the services idle) so both meet the same machine; `reset()` empties its warehouse at the start of
    each executor's block, so floor run k loads like that executor's run k (first load, then upserts)."""

    def __init__(self, workdir: Path, catalog: Path, fresh: bool, log) -> None:
        self.workdir, self.catalog, self.fresh, self.log = workdir, catalog, fresh, log
        home = make_home(workdir / "home", None)
        data = workdir / "data"
        data.mkdir(parents=True)
        self.warehouse = data / "warehouse.duckdb"
        self.env = {**os.environ, "DAGSTER_HOME": str(home), "WORKFLOW_PLATFORM_DATA": str(data),
                    "WORKFLOW_PLATFORM_CATALOG": str(catalog)}
        self.env.pop("WORKFLOW_PLATFORM_WAREHOUSE", None)
        self.runs: list[dict] = []

    def reset(self) -> None:
        _remove_warehouse(self.warehouse)

    def run(self) -> dict:
        if self.fresh:
            _remove_warehouse(self.warehouse)
        number = len(self.runs) + 1
        result = self.workdir / f"floor-{number}.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", "floor", "--catalog", str(self.catalog),
                   "--warehouse", str(self.warehouse), "--result", str(result)]
        mark = time.perf_counter()
        subprocess.run(command, check=True, env=self.env, cwd=REPO)
        figures = json.loads(result.read_text())
        figures["process_s"] = time.perf_counter() - mark
        self.runs.append(figures)
        self.log(f"    floor run {number}: execute_in_process {figures['execute_s']:.2f} s (process "
                 f"{figures['process_s']:.2f} s: import {figures['import_s']:.2f}, build {figures['build_s']:.2f}); "
                 f"success={figures['success']}")
        return figures


def _remove_warehouse(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


# --------------------------------------------------------------------------- webserver + daemon


def graphql(port: int, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql",
                                     data=json.dumps({"query": query, "variables": variables or {}}).encode(),
                                     headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request, timeout=timeout).read())


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := predicate():
                return value
        except OSError:
            pass
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def location_loaded(port: int) -> bool:
    entries = graphql(port, "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                      )["data"]["workspaceOrError"]["locationEntries"]
    entry = next((e for e in entries if e["name"] == LOCATION), None)
    if entry and entry["loadStatus"] == "LOADED":
        if entry["locationOrLoadError"]["__typename"] != "RepositoryLocation":
            raise RuntimeError(f"the code location failed to load: {entry['locationOrLoadError']}")
        return True
    return False


def queue_daemon_healthy(port: int) -> bool:
    health = graphql(port, "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
    statuses = {d["daemonType"]: d["healthy"] for d in health["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]}
    return bool(statuses.get("QUEUED_RUN_COORDINATOR"))


LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
RECORD = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status creationTime startTime endTime } } }"


def launch_and_wait(port: int, poll: float, timeout: float) -> dict:
    params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "jobName": JOB},
              "executionMetadata": {"tags": [{"key": "workflow_platform/date_from", "value": DAY.isoformat()},
                                             {"key": "workflow_platform/date_to", "value": DAY.isoformat()}]}}
    launched_at = time.time()
    mark = time.perf_counter()
    answer = graphql(port, LAUNCH, {"p": params})
    launch_call = time.perf_counter() - mark
    if answer.get("data", {}).get("launchRun", {}).get("__typename") != "LaunchRunSuccess":
        raise RuntimeError(f"launchRun failed: {answer}")
    run_id = answer["data"]["launchRun"]["run"]["runId"]
    status, deadline = None, mark + timeout
    while time.perf_counter() < deadline:
        status = graphql(port, STATUS, {"id": run_id})["data"]["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(poll)
    wall = time.perf_counter() - mark
    record = graphql(port, RECORD, {"id": run_id})["data"]["runOrError"]
    return {"run_id": run_id, "status": status, "wall_s": wall, "launch_call_s": launch_call,
            "launched_at": launched_at, "record": record,
            "record_run_s": (record["endTime"] - record["startTime"]) if record.get("endTime") and record.get("startTime") else None}


def measure_executor(executor: str, workdir: Path, catalog: Path, repeat: int, poll: float, fresh: bool,
                     dequeue_interval: int | None, floor: Floor | None, log) -> dict:
    import dagster as dg

    home = make_home(workdir / "home", dequeue_interval)
    data = workdir / "data"
    data.mkdir(parents=True)
    warehouse = data / "warehouse.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(home), "WORKFLOW_PLATFORM_DATA": str(data),
           "WORKFLOW_PLATFORM_CATALOG": str(catalog), "WORKFLOW_PLATFORM_EXECUTOR": executor}
    env.pop("WORKFLOW_PLATFORM_WAREHOUSE", None)
    # create the instance's SQLite storages before the two services start: both stamping a fresh DAGSTER_HOME at
    # once can leave two alembic heads ("Version table 'alembic_version' has more than one head present")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs(limit=1)
        instance.event_log_storage.get_pool_limits()
        instance.schedule_storage.all_instigator_state() if instance.schedule_storage else None
    port = free_port()
    logs = {name: open(workdir / f"{name}.log", "w") for name in ("webserver", "daemon")}  # noqa: SIM115
    started = time.perf_counter()
    services = [
        subprocess.Popen([str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env,
                         stdout=logs["webserver"], stderr=subprocess.STDOUT, start_new_session=True),
        subprocess.Popen([str(BIN / "dagster-daemon"), "run"], cwd=REPO, env=env,
                         stdout=logs["daemon"], stderr=subprocess.STDOUT, start_new_session=True),
    ]
    runs, startup = [], None
    try:
        wait_for(lambda: location_loaded(port), 240, "the webserver to load the code location")
        wait_for(lambda: queue_daemon_healthy(port), 240, "the run queue daemon to be healthy")
        startup = time.perf_counter() - started
        log(f"  {LABELS[executor]}: webserver + daemon ready in {startup:.1f} s (port {port})")
        instance = dg.DagsterInstance.from_config(str(home))
        if floor:
            floor.reset()
        try:
            for number in range(1, repeat + 1):
                if fresh:
                    _remove_warehouse(warehouse)
                run = launch_and_wait(port, poll, timeout=300)
                run["analysis"] = analyze(instance.all_logs(run["run_id"]))
                runs.append(run)
                a = run["analysis"]
                log(f"  {LABELS[executor]} run {number}: {run['status']} wall {run['wall_s']:.2f} s, run "
                    f"{_fmt(run['record_run_s'])} s, queued {_fmt(a['queued_s'])} s, worker start "
                    f"{_fmt(a['worker_start_s'])} s, steps {_fmt(a['steps_body_s'])} s (work {_fmt(a['steps_work_s'])}), "
                    f"between steps {_fmt(a['between_steps_s'])} s")
                if run["status"] != "SUCCESS":
                    tail = (workdir / "daemon.log").read_text()[-3000:]
                    log(f"  run {run['run_id']} ended {run['status']}; daemon log tail:\n{tail}")
                if floor:
                    floor.run()
        finally:
            instance.dispose()
    finally:
        for process in services:
            os.killpg(process.pid, signal.SIGTERM)
        for process in services:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for handle in logs.values():
            handle.close()
    return {"executor": executor, "startup_s": startup, "runs": runs}


# --------------------------------------------------------------------------- report


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(executors: list[dict], floor_runs: list[dict], args: argparse.Namespace) -> dict:
    floor = _median([r["execute_s"] for r in floor_runs])
    result = {
        "couriers": args.couriers, "rows_per_file": args.rows, "variant": "full" if args.full else "source",
        "repeat": args.repeat, "poll_s": args.poll, "dequeue_interval_s": args.dequeue_interval,
        "fresh_warehouse": args.fresh_warehouse, "cpus": os.cpu_count(), "target_s": TARGET_SECONDS,
        "load_average_1m": {"start": args.load_start, "end": os.getloadavg()[0]},
        "floor": None, "executors": {},
    }
    if floor_runs:
        result["floor"] = {
            "execute_median_s": floor, "execute_min_s": min(r["execute_s"] for r in floor_runs),
            "process_median_s": _median([r["process_s"] for r in floor_runs]),
            "import_median_s": _median([r["import_s"] for r in floor_runs]),
            "build_median_s": _median([r["build_s"] for r in floor_runs]),
            "steps_body_median_s": _median([r["analysis"]["steps_body_s"] for r in floor_runs]),
            "steps_work_median_s": _median([r["analysis"]["steps_work_s"] for r in floor_runs]),
            "between_steps_median_s": _median([r["analysis"]["between_steps_s"] for r in floor_runs]),
            "all_success": all(r["success"] for r in floor_runs),
            "runs": floor_runs,
        }
    for measured in executors:
        runs = measured["runs"]
        ok = [r for r in runs if r["status"] == "SUCCESS"]
        walls = [r["wall_s"] for r in ok]
        wall = _median(walls)
        run_s = _median([r["record_run_s"] for r in ok])

        def med(key, ok=ok):
            return _median([r["analysis"][key] for r in ok])

        result["executors"][measured["executor"]] = {
            "startup_s": measured["startup_s"],
            "successes": len(ok), "runs_launched": len(runs),
            "wall_median_s": wall, "wall_min_s": min(walls) if walls else None,
            "run_median_s": run_s,
            "overhead_median_s": _median([r["wall_s"] - r["record_run_s"] for r in ok if r["record_run_s"]]),
            "ratio_to_floor": wall / floor if wall and floor else None,
            "pass": None if wall is None else (wall <= TARGET_SECONDS and len(ok) == len(runs)),
            "launch_call_median_s": _median([r["launch_call_s"] for r in ok]),
            "queued_median_s": med("queued_s"),
            "worker_start_median_s": med("worker_start_s"),
            "before_first_step_median_s": med("before_first_step_s"),
            "steps_body_median_s": med("steps_body_s"),
            "steps_work_median_s": med("steps_work_s"),
            "between_steps_median_s": med("between_steps_s"),
            "pool_wait_median_s": med("pool_wait_s"),
            "step_process_start_total_median_s": med("step_process_start_s"),
            "after_last_step_median_s": med("after_last_step_s"),
            "step_body_median_s": med("step_body_median_s"),
            "gap_median_s": med("gap_median_s"),
            "gap_max_s": max((r["analysis"]["gap_max_s"] or 0) for r in ok) if ok else None,
            "step_process_start_median_s": med("step_process_start_median_s"),
            "poll_lag_median_s": _median([r["launched_at"] + r["wall_s"] - r["analysis"]["run_end_at"]
                                          for r in ok if r["analysis"]["run_end_at"]]),
            "runs": runs,
        }
    return result


def print_report(result: dict) -> None:
    floor = result["floor"]
    print(f"\nrun overhead: {result['couriers']} couriers x {result['rows_per_file']} rows, courier group "
          f"run_type {result['variant']}, {result['repeat']} run(s) per executor, {result['cpus']} CPUs"
          + (f", run_queue dequeue_interval_seconds {result['dequeue_interval_s']}" if result['dequeue_interval_s']
             else ", repo dagster.yaml (dequeue interval: Dagster default 5 s)"))
    load = result["load_average_1m"]
    print(f"load average (1 min): {load['start']:.2f} at the start (other work on the machine), {load['end']:.2f} at "
          "the end (includes this benchmark's own processes); compare timings from a quiet machine only")
    print(f"{'':26} {'wall median':>11} {'wall min':>9} {'run s':>7} {'overhead':>9} {'x floor':>8}  "
          f"target <= {TARGET_SECONDS:.0f} s")
    if floor:
        print(f"{'execute_in_process floor':26} {floor['execute_median_s']:11.2f} {floor['execute_min_s']:9.2f} "
              f"{'':>7} {'':>9} {1.0:8.2f}  (one process: {floor['process_median_s']:.2f} s incl. import "
              f"{floor['import_median_s']:.2f} + build {floor['build_median_s']:.2f})")
    for executor, e in result["executors"].items():
        verdict = "n/a" if e["pass"] is None else ("PASS" if e["pass"] else "FAIL")
        if e["successes"] != e["runs_launched"]:
            verdict += f" ({e['runs_launched'] - e['successes']} run(s) not SUCCESS)"
        print(f"{LABELS[executor]:26} {_fmt(e['wall_median_s']):>11} {_fmt(e['wall_min_s']):>9} "
              f"{_fmt(e['run_median_s']):>7} {_fmt(e['overhead_median_s']):>9} {_fmt(e['ratio_to_floor']):>8}  {verdict}")
    print("\nwhere the wall time goes (medians, seconds):")
    columns = [("launch call", "launch_call_median_s"), ("queued", "queued_median_s"),
               ("worker start", "worker_start_median_s"), ("to 1st step", "before_first_step_median_s"),
               ("step bodies", "steps_body_median_s"), ("(work)", "steps_work_median_s"),
               ("between steps", "between_steps_median_s"), ("- pool wait", "pool_wait_median_s"),
               ("- step procs", "step_process_start_total_median_s"), ("after last", "after_last_step_median_s"),
               ("poll lag", "poll_lag_median_s")]
    print(f"{'':26} " + " ".join(f"{name:>13}" for name, _ in columns))
    if floor:
        row = {"steps_body_median_s": floor["steps_body_median_s"], "steps_work_median_s": floor["steps_work_median_s"],
               "between_steps_median_s": floor["between_steps_median_s"]}
        print(f"{'execute_in_process floor':26} " + " ".join(f"{_fmt(row.get(key)):>13}" for _, key in columns))
    for executor, e in result["executors"].items():
        print(f"{LABELS[executor]:26} " + " ".join(f"{_fmt(e[key]):>13}" for _, key in columns))
    print("  launch call: launchRun (run + planned events written); queued: RUN_ENQUEUED -> RUN_STARTING (daemon dequeue);"
          "\n  worker start: RUN_STARTING -> RUN_START (new process, imports, code location); (work): the product's own"
          "\n  elapsed_seconds inside the step bodies; pool wait: a step's slot claim retries (previous step done -> its"
          "\n  process launched); step procs: STEP_WORKER_STARTING -> STEP_START; poll lag: RUN_SUCCESS -> seen.")
    print("\nper step (medians over runs; a step = one feed's courier + feed + domain):")
    print(f"{'':26} {'steps':>5} {'body':>7} {'gap':>7} {'gap max':>8} {'step proc start':>16} {'startup s':>10}")
    for executor, e in result["executors"].items():
        steps = e["runs"][0]["analysis"]["step_count"] if e["runs"] else 0
        print(f"{LABELS[executor]:26} {steps:>5} {_fmt(e['step_body_median_s']):>7} {_fmt(e['gap_median_s']):>7} "
              f"{_fmt(e['gap_max_s']):>8} {_fmt(e['step_process_start_median_s']):>16} {_fmt(e['startup_s'], 1):>10}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--couriers", type=int, default=10, help="couriers (each its own feed) in the group (default 10)")
    parser.add_argument("--rows", type=int, default=100, help="rows per courier file (default 100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per executor, each followed by one floor run (default 3)")
    parser.add_argument("--executors", nargs="+", choices=EXECUTORS, default=list(EXECUTORS),
                        help="executors to measure (default all three)")
    parser.add_argument("--full", action="store_true",
                        help="run_type full with a customer_360 database (the build run that follows is not measured)")
    parser.add_argument("--poll", type=float, default=0.2, help="run status poll interval in seconds (default 0.2)")
    parser.add_argument("--dequeue-interval", type=int,
                        help="variant: set run_queue.dequeue_interval_seconds in the temp dagster.yaml "
                             "(default: the repo's dagster.yaml as it is, i.e. Dagster's 5 s)")
    parser.add_argument("--fresh-warehouse", action="store_true",
                        help="delete the warehouse before each run (default: later runs upsert the same keys)")
    parser.add_argument("--no-floor", action="store_true", help="skip the execute_in_process floor")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (catalog, files, logs, homes)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    parser.add_argument("--quiet", action="store_true", help="print only the JSON line")
    # internal: the floor, one execute_in_process in a child process
    parser.add_argument("--child", choices=("floor",), help=argparse.SUPPRESS)
    parser.add_argument("--catalog", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.couriers < 1 or args.rows < 1 or args.repeat < 1 or args.poll <= 0:
        parser.error("--couriers, --rows and --repeat must be at least 1, --poll positive")
    if args.dequeue_interval is not None and args.dequeue_interval < 1:
        parser.error("--dequeue-interval must be at least 1 (Dagster takes whole seconds)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_floor_child(args)
    log = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    args.load_start = os.getloadavg()[0]
    scratch = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="wp-bench-run-overhead-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        landing, catalog = scratch / "landing", scratch / "catalog"
        catalog.mkdir(exist_ok=True)
        size = write_files(args.couriers, args.rows, landing)
        (catalog / "catalog.yaml").write_text(textwrap.dedent(catalog_text(args.couriers, landing, args.full)))
        log(f"catalog: {args.couriers} couriers/feeds in group {GROUP!r} (run_type {'full' if args.full else 'source'}), "
            f"{args.couriers} files of {args.rows} rows ({size / 1024:.0f} KB) for {DAY} in {landing}")
        floor = None if args.no_floor else Floor(scratch / "floor", catalog, args.fresh_warehouse, log)
        measured = []
        for executor in args.executors:
            log(f"{LABELS[executor]}: starting dagster-webserver + dagster-daemon (WORKFLOW_PLATFORM_EXECUTOR={executor})")
            measured.append(measure_executor(executor, scratch / executor, catalog, args.repeat, args.poll,
                                             args.fresh_warehouse, args.dequeue_interval, floor, log))
        result = summarize(measured, floor.runs if floor else [], args)
        if not args.quiet:
            print_report(result)
        if args.json:  # everything, per run and per step
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2, default=str))
        # the last line: the figures without the per-run detail
        brief = {**result, "floor": ({k: v for k, v in result["floor"].items() if k != "runs"}
                                     if result["floor"] else None),
                 "executors": {k: {kk: vv for kk, vv in v.items() if kk != "runs"}
                               for k, v in result["executors"].items()}}
        print(json.dumps(brief, default=str))
        failed = any(e["successes"] != e["runs_launched"] for e in result["executors"].values())
        failed = failed or (result["floor"] is not None and not result["floor"]["all_success"])
        return 1 if failed else 0
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
