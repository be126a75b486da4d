"""Fault injection: SIGKILL the process running a courier group's run at seeded random moments, re-run, and
check the warehouse against the source files.

A *zygote* process imports the platform once and forks one child per run, so a run starts in milliseconds and
the child is a plain single-process run worker (the in-process executor, as `dagster job execute` runs it):
killing it with SIGKILL is the power cut the warehouse must survive. After every kill the harness checks, before
the re-run, that each table is either as it was before the run or as the completed re-run leaves it (never
half), and that each feed's domain table and its loaded files in audit.files agree; after the re-run, that every
source row is loaded exactly once. Used by workflow_platform_tests/test_fault_injection.py (CI size) and
bench/fault_injection.py (long runs).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

CATALOG = """
couriers:
  - name: shop
    pattern: "'in/c_'yyyyMMdd'_'*'.csv'"
    feed: customers
  - name: crm
    pattern: "'crm/k_'yyyyMMdd'_'*'.csv'"
    feed: contacts
feeds:
  - name: customers
    source: shop
    columns:
      - {name: id, tag: pk}
      - {name: first_name, tag: given-name}
      - {name: last_name, tag: surname}
      - {name: email, tag: email}
      - {name: phone, tag: phone}
  - name: contacts
    source: crm
    columns:
      - {name: id, tag: pk}
      - {name: email, tag: email}
      - {name: phone, tag: phone}
stitch:
  resolver: deterministic
databases:
  - name: c360
    type: customer_360
courier_groups:
  - name: daily
    couriers: [shop, crm]
"""
FILES = {"shop": ("in/c_{day}_{n}.csv", 3, "id,first_name,last_name,email,phone"),
         "crm": ("crm/k_{day}_{n}.csv", 2, "id,email,phone")}
FEED_OF = {"shop": "customers", "crm": "contacts"}
START = dt.date(2026, 1, 1)

ZYGOTE = textwrap.dedent("""
    import datetime as dt, json, os, sys
    import dagster as dg
    from workflow_platform.runner import run_workflow
    from workflow_platform.catalog.loader import load_catalog
    import workflow_platform.definitions  # every module the run needs, imported once before forking

    # no captured compute logs: their `tail` helper processes would outlive a killed run
    NO_COMPUTE_LOGS = {"compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager",
                                        "class": "NoOpComputeLogManager"}}

    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout carries the protocol: only the zygote writes it
            code = 2
            try:
                day = dt.date.fromisoformat(job["day"])
                instance = dg.DagsterInstance.local_temp(tempdir=job["home"], overrides=NO_COMPUTE_LOGS)
                outcome = run_workflow(load_catalog(job["catalog"]), window=(day, day), group="daily",
                                       warehouse=job["warehouse"], instance=instance)
                code = 0 if outcome.success else 1
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
                          "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}), flush=True)
""")


@dataclass
class Trial:
    day: str
    kill_after: float
    killed: bool
    step: str  # the step running when the kill came ("" before the first step, "(after)" when the run ended)
    torn: list[str] = field(default_factory=list)  # tables neither old nor new after the kill
    disagreements: list[str] = field(default_factory=list)  # domain vs audit.files after the kill


@dataclass
class Report:
    trials: list[Trial]
    source_rows: int
    loaded_rows: int
    lost: int
    duplicated: int
    files_loaded_twice: list[str]
    seconds: float

    @property
    def killed(self) -> int:
        return sum(t.killed for t in self.trials)

    def summary(self) -> dict:
        return {"trials": len(self.trials), "killed": self.killed, "source_rows": self.source_rows,
                "loaded_rows": self.loaded_rows, "lost": self.lost, "duplicated": self.duplicated,
                "files_loaded_twice": self.files_loaded_twice,
                "torn_tables": sum(len(t.torn) for t in self.trials),
                "domain_manifest_disagreements": sum(len(t.disagreements) for t in self.trials),
                "killed_in_step": dict(Counter(t.step for t in self.trials if t.killed)),
                "seconds": round(self.seconds, 1)}

    def assert_nothing_lost_or_doubled(self, kills: int) -> None:
        """At least `kills` runs were killed, and after the re-runs every source row (3 + 2 files of
        rows_per_file=50 rows per trial day) is loaded once, no file twice, no table torn or out of step."""
        summary = self.summary()
        assert self.killed >= kills, summary
        assert self.source_rows == (3 + 2) * 50 * (len(self.trials) + 1)
        assert self.lost == 0 and self.duplicated == 0, summary
        assert self.loaded_rows == self.source_rows
        assert self.files_loaded_twice == []
        assert [t for t in self.trials if t.torn or t.disagreements] == [], summary


class Harness:
    """A tenant under `root` and a zygote that runs its courier group `daily`."""

    def __init__(self, root: Path, rows_per_file: int = 50, seed: int = 7):
        self.root, self.rows, self.random = root, rows_per_file, random.Random(seed)
        self.catalog, self.landing = root / "catalog", root / "data" / "landing"
        self.warehouse, self.home = root / "data" / "warehouse.duckdb", root / "dagster_home"
        for folder in (self.catalog, self.landing, self.home):
            folder.mkdir(parents=True, exist_ok=True)
        (self.catalog / "catalog.yaml").write_text(CATALOG)
        (self.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = {**os.environ, "WORKFLOW_PLATFORM_DATA": str(root / "data"), "DAGSTER_HOME": str(self.home)}
        env.pop("WORKFLOW_PLATFORM_WAREHOUSE", None)
        self.zygote = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True, env=env)
        self.source: dict[str, set[str]] = {feed: set() for feed in FEED_OF.values()}

    def close(self) -> None:
        self.zygote.stdin.close()
        self.zygote.wait(timeout=30)

    def land_day(self, index: int) -> str:
        day = START + dt.timedelta(days=index)
        for courier, (pattern, files, header) in FILES.items():
            for n in range(files):
                ids = [f"{courier}-{index}-{n}-{i}" for i in range(self.rows)]
                lines = [header] + [",".join([key, f"Ann{i}", f"Lee{i}", f"{key}@example.org", f"555{i:07d}"]
                                             if courier == "shop" else [key, f"{key}@example.org", f"555{i:07d}"])
                                    for i, key in enumerate(ids)]
                path = self.landing / pattern.format(day=day.strftime("%Y%m%d"), n=n)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(lines) + "\n")
                self.source[FEED_OF[courier]].update(ids)
        if index:  # an earlier file delivered again under a new name: must add nothing
            earlier = self.landing / FILES["crm"][0].format(day=(day - dt.timedelta(days=1)).strftime("%Y%m%d"), n=0)
            (self.landing / FILES["crm"][0].format(day=day.strftime("%Y%m%d"), n="again")).write_bytes(
                earlier.read_bytes())
        return day.isoformat()

    def launch(self, day: str, kill_after: float | None = None) -> tuple[bool, float]:
        """Run the group for `day`; SIGKILL the run `kill_after` seconds in. Returns (killed, elapsed)."""
        job = {"day": day, "catalog": str(self.catalog), "warehouse": str(self.warehouse), "home": str(self.home)}
        started = time.monotonic()
        self.zygote.stdin.write(json.dumps(job) + "\n")
        self.zygote.stdin.flush()
        pid = json.loads(self.zygote.stdout.readline())["pid"]
        if kill_after is not None:
            time.sleep(kill_after)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        status = json.loads(self.zygote.stdout.readline())
        if kill_after is None and status["code"] != 0:
            raise AssertionError(f"the run for {day} failed (exit {status})")
        return status["signal"] == signal.SIGKILL, time.monotonic() - started

    def runs(self) -> int:
        import dagster as dg

        with dg.DagsterInstance.local_temp(tempdir=str(self.home)) as instance:
            return instance.get_runs_count()

    def step_at_kill(self, runs_before: int) -> str:
        import dagster as dg

        with dg.DagsterInstance.local_temp(tempdir=str(self.home)) as instance:
            if instance.get_runs_count() == runs_before:
                return "(before the run was created)"
            run = instance.get_runs(limit=1)[0]
            started, ended = [], set()
            for record in instance.all_logs(run.run_id):
                event = record.dagster_event
                if event and event.event_type_value == "STEP_START":
                    started.append(event.step_key)
                elif event and event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                    ended.add(event.step_key)
            running = [s for s in started if s not in ended]
            return running[-1] if running else ("(after)" if ended else "(before the first step)")

    def tables(self) -> dict[str, str]:
        """Every data table's fingerprint (row count and an order-free hash; load timestamps left out)."""
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            names = conn.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('domain', 'stitch', 'c360') "
                "AND table_name NOT IN ('runs', 'id_registry')").fetchall()
            out = {}
            for schema, table in names:
                columns = [c for (c,) in conn.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
                    "AND column_name NOT IN ('_updated')", [schema, table]).fetchall()]
                select = ", ".join(f'"{c}"' for c in columns)
                out[f"{schema}.{table}"] = str(conn.execute(
                    f'SELECT count(*), sum(hash(row({select})))::HUGEINT FROM "{schema}"."{table}"').fetchone())
            return out

    def disagreements(self) -> list[str]:
        """Feeds whose domain row count differs from the rows audit.files says were loaded into it."""
        if not self.warehouse.exists():
            return []
        out = []
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            for feed in FEED_OF.values():
                if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'domain' AND "
                                    "table_name = ?", [feed]).fetchone()[0]:
                    continue
                in_table = conn.execute(f"SELECT count(*) FROM domain.{feed}").fetchone()[0]
                in_manifest = conn.execute("SELECT coalesce(sum(rows_loaded), 0) FROM audit.files WHERE feed = ? "
                                           "AND status = 'loaded'", [feed]).fetchone()[0]
                if in_table != in_manifest:
                    out.append(f"domain.{feed}: {in_table} rows, audit.files says {in_manifest}")
        return out

    def trial(self, index: int) -> Trial:
        day = self.land_day(index)
        before = self.tables() if self.warehouse.exists() else {}
        kill_after = self.random.uniform(0.05, 0.95) * self.full_run_seconds  # loads, Stitch and builds alike
        runs_before = self.runs()
        killed, _ = self.launch(day, kill_after)
        step = self.step_at_kill(runs_before) if killed else "(after)"
        middle = self.tables() if self.warehouse.exists() else {}
        disagreements = self.disagreements()
        _, elapsed = self.launch(day)  # the re-run, to completion
        # the next kill falls within a run as long as this one: the first load is slower than the runs after it,
        # and a busy machine stretches them all
        self.full_run_seconds = elapsed
        after = self.tables()
        torn = [name for name, value in middle.items() if value not in (before.get(name), after.get(name))]
        return Trial(day, round(kill_after, 3), killed, step, torn, disagreements)

    def check(self) -> tuple[int, int, int, int, list[str]]:
        """(source rows, loaded rows, lost, duplicated) against the source files, and the files loaded twice."""
        lost = duplicated = loaded = 0
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            for feed, ids in self.source.items():
                rows = [key for (key,) in conn.execute(f"SELECT id FROM domain.{feed}").fetchall()]
                loaded += len(rows)
                lost += len(ids - set(rows))
                duplicated += len(rows) - len(set(rows)) + len(set(rows) - ids)
            twice = [f"{courier}:{file}" for courier, file, n in conn.execute(
                "SELECT courier, any_value(file), count(*) FROM audit.files WHERE status = 'loaded' "
                "GROUP BY courier, sha256 HAVING count(*) > 1").fetchall()]
        return sum(len(ids) for ids in self.source.values()), loaded, lost, duplicated, twice

    def run(self, kills: int) -> Report:
        """Trials until `kills` of them killed the run before it ended (at most twice as many trials)."""
        started = time.monotonic()
        first = self.land_day(0)
        _, self.full_run_seconds = self.launch(first)  # a clean first load: the baseline and a run's duration
        done: list[Trial] = []
        while sum(t.killed for t in done) < kills and len(done) < 2 * kills:
            done.append(self.trial(len(done) + 1))
        source, loaded, lost, duplicated, twice = self.check()
        return Report(done, source, loaded, lost, duplicated, twice, time.monotonic() - started)
