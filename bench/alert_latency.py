"""Benchmark: how fast alerts arrive with the real dagster-daemon at its default intervals.

Starts `dagster-daemon run` on a temporary DAGSTER_HOME with a small catalog, a local Slack Web API server
and measures:
1. missing file: a group scheduled every minute whose courier waits 1 minute for a file that never comes;
   latency = alert arrival - (tick + wait), for the tick just before the daemon starts;
2. runtime: a run of a group with a 1-minute runtime threshold that is still going (a run record marked
   STARTED); latency = warning arrival - (run start + threshold).
Targets: <= 60 s each. A benchmark, not a test: exit code 0 unless something crashed.

    .venv/bin/python -m bench.alert_latency [--json PATH]    # from the repository root (it uses the tests' servers)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

from workflow_platform_tests.servers import SlackServer

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)

CATALOG = """
couriers:
  - name: web
    pattern: "'web_'yyyyMMdd'.csv'"
    feed: web
feeds:
  - name: web
    source: web
    columns: [{name: id, tag: pk}]
courier_groups:
  - name: late
    schedule: "* * * * *"
    couriers: [{courier: web, wait: 1 minute, stop_when_missing: true}]
    runtime_threshold: 1 minute
alerts:
  courier_groups:
    slack: ["#data-alerts"]
"""
TARGET_SECONDS = 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    import dagster as dg

    scratch = Path(tempfile.mkdtemp(prefix="wp-alert-latency-"))
    home, data, catalog = scratch / "home", scratch / "data", scratch / "catalog"
    for folder in (home, data / "landing", catalog):
        folder.mkdir(parents=True)
    shutil.copy(REPO / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)):  # storages created once, before the daemon starts
        pass
    (catalog / "catalog.yaml").write_text(textwrap.dedent(CATALOG))
    slack = SlackServer()

    class Stamped(list):
        """Messages with the time each arrived."""

        def append(self, message: dict) -> None:
            super().append({**message, "at": time.time()})

    slack.messages = Stamped()

    def arrived(word: str) -> float | None:
        return next((m["at"] for m in slack.messages if word in m["text"]), None)

    # start just after a minute boundary T0: the sensor's first evaluation (within the minute) takes tick T0,
    # whose 1-minute wait expires at T0 + 60 s
    while not 1 <= dt.datetime.now().second <= 5:
        time.sleep(0.5)
    env = {**os.environ, "DAGSTER_HOME": str(home), "WORKFLOW_PLATFORM_DATA": str(data),
           "WORKFLOW_PLATFORM_CATALOG": str(catalog), "WORKFLOW_PLATFORM_SLACK_TOKEN": "xoxb-bench",
           "WORKFLOW_PLATFORM_SLACK_API_URL": slack.url}
    env.pop("WORKFLOW_PLATFORM_SENSOR_INTERVAL", None)  # the default interval is what we measure
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run"], cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = time.time()
    first_tick = int(started) // 60 * 60
    try:
        os.environ["DAGSTER_HOME"] = str(home)
        with dg.DagsterInstance.get() as instance:
            run_start = time.time()
            instance.add_run(dg.DagsterRun(job_name="courier_group__late", run_id="bench-slow-run",
                                           status=dg.DagsterRunStatus.STARTED,
                                           tags={"courier_group": "late"}))  # as the group's job tags its runs
            deadline = time.time() + 240
            while time.time() < deadline and not (arrived("files missing") and arrived("runtime over")):
                time.sleep(0.5)
            arrivals = {"missing": arrived("files missing"), "runtime": arrived("runtime over")}
    finally:
        os.environ.pop("DAGSTER_HOME", None)
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        slack.close()
        shutil.rmtree(scratch, ignore_errors=True)
    figures = {
        "missing_file_latency_s": None if arrivals["missing"] is None else round(arrivals["missing"] - (first_tick + 60), 1),
        "runtime_warning_latency_s": None if arrivals["runtime"] is None else round(arrivals["runtime"] - (run_start + 60), 1),
        "target_s": TARGET_SECONDS,
    }
    for name in ("missing_file_latency_s", "runtime_warning_latency_s"):
        value = figures[name]
        verdict = "MISS (no alert)" if value is None else ("PASS" if value <= TARGET_SECONDS else "MISS")
        print(f"{name:28s} {value if value is not None else '-':>8} s  (target <= {TARGET_SECONDS} s)  {verdict}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
