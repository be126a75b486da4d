"""The warehouse as a DuckLake (`WORKFLOW_PLATFORM_WAREHOUSE_KIND=ducklake`, docs/scale-out.md): loads of different
feeds run from two processes at once, not serialised by the `warehouse` pool, and a load killed with SIGKILL at a
random moment loses and doubles nothing.

The DuckLake catalog is in a real PostgreSQL on loopback (servers.py's `postgres_server`) or in SQLite; its Parquet files in the tenant's data folder. Needs DuckDB
1.5.x with the `duckdb-extension-*` wheels (`pip install workflow_platform[ducklake]`); skipped without them.
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
from pathlib import Path

import pytest

from workflow_platform.catalog.loader import load_catalog
from workflow_platform.definitions import build_definitions
from workflow_platform.resources import WAREHOUSE_POOL, WarehouseResource, load_pool
from workflow_platform_tests.fault_injection import FEED_OF, Harness
from workflow_platform_tests.servers import PostgresServer

pytest.importorskip("duckdb_extension_ducklake", reason="the ducklake warehouse needs workflow_platform[ducklake]")


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
      - {name: email, tag: email}
  - name: contacts
    source: crm
    columns:
      - {name: id, tag: pk}
      - {name: email, tag: email}
courier_groups:
  - name: g_shop
    couriers: [shop]
  - name: g_crm
    couriers: [crm]
"""
GROUP = {"customers": "g_shop", "contacts": "g_crm"}
FILES = {"customers": ("in/c_{day}_{n}.csv", 2, "id,first_name,email"), "contacts": ("crm/k_{day}_{n}.csv", 2, "id,email")}
START = dt.date(2026, 1, 1)

# One process per feed: it imports the platform once, then forks a child per run (a plain single-process run
# worker; killing it with SIGKILL is the power cut). The child writes when its load step started and ended.
ZYGOTE = textwrap.dedent("""
    import datetime as dt, json, os, sys
    import dagster as dg
    from workflow_platform.runner import run_workflow
    from workflow_platform.catalog.loader import load_catalog
    import workflow_platform.definitions

    NO_COMPUTE_LOGS = {"compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager",
                                        "class": "NoOpComputeLogManager"}}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            code = 2
            try:
                day = dt.date.fromisoformat(job["day"])
                with dg.DagsterInstance.local_temp(tempdir=job["home"], overrides=NO_COMPUTE_LOGS) as instance:
                    outcome = run_workflow(load_catalog(job["catalog"]), window=(day, day), group=job["group"],
                                           ingest_only=True, instance=instance)
                    steps = {}
                    for record in instance.all_logs(outcome.run_id):
                        event = record.dagster_event
                        if event and event.step_key and event.step_key.startswith("load__"):
                            steps.setdefault(event.event_type_value, record.timestamp)
                    with open(job["report"], "w") as out:
                        json.dump({"success": outcome.success, "failures": outcome.failures, "steps": steps}, out)
                code = 0 if outcome.success else 1
            finally:
                os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0,
                          "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}), flush=True)
""")


def lake_database(server: PostgresServer) -> str:
    """A fresh database of the loopback PostgreSQL (conftest's `postgres_server`) for one test's lake catalog."""
    return f"postgres:host={server.host} port={server.port} user={server.user} dbname={server.create_database()}"


def lake_env(monkeypatch: pytest.MonkeyPatch, root: Path, catalog: str) -> None:
    monkeypatch.setenv("WORKFLOW_PLATFORM_DATA", str(root / "data"))
    monkeypatch.setenv("WORKFLOW_PLATFORM_WAREHOUSE_KIND", "ducklake")
    monkeypatch.setenv("WORKFLOW_PLATFORM_LAKE_CATALOG", catalog)
    monkeypatch.setenv("WORKFLOW_PLATFORM_LAKE_DATA", str(root / "data" / "lake"))
    monkeypatch.delenv("WORKFLOW_PLATFORM_WAREHOUSE", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


class Tenant:
    """Two feeds, each with its own courier group, landing files under root/data/landing."""

    def __init__(self, root: Path, rows: int):
        self.root, self.rows = root, rows
        self.catalog, self.landing = root / "catalog", root / "data" / "landing"
        for folder in (self.catalog, self.landing):
            folder.mkdir(parents=True, exist_ok=True)
        (self.catalog / "catalog.yaml").write_text(CATALOG)
        self.source: dict[str, set[str]] = {feed: set() for feed in FILES}

    def land_day(self, index: int) -> str:
        day = START + dt.timedelta(days=index)
        for feed, (pattern, files, header) in FILES.items():
            for n in range(files):
                ids = [f"{feed}-{index}-{n}-{i}" for i in range(self.rows)]
                # every later day also updates the first rows of day 0 (an upsert, not only inserts)
                updates = [f"{feed}-0-{n}-{i}" for i in range(self.rows // 10)] if index else []
                rows = [",".join([key, f"Ann{index}", f"{key}@example.org"] if feed == "customers"
                                 else [key, f"{key}@example.org"]) for key in ids + updates]
                path = self.landing / pattern.format(day=day.strftime("%Y%m%d"), n=n)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(header + "\n" + "\n".join(rows) + "\n")
                self.source[feed].update(ids)
        return day.isoformat()

    def check(self) -> dict:
        """Per feed: lost and doubled keys against the source files, files loaded twice, and whether the domain
        table agrees with the rows audit.files says were loaded into it."""
        out = {}
        with WarehouseResource.from_settings().get_connection() as conn:
            for feed, ids in self.source.items():
                keys = [k for (k,) in conn.execute(f"SELECT id FROM domain.{feed}").fetchall()]
                pks = conn.execute(f"SELECT count(*) - count(DISTINCT _pk), count(*) FILTER (WHERE _pk IS NULL) "
                                   f"FROM domain.{feed}").fetchone()
                twice = conn.execute("SELECT count(*) FROM (SELECT sha256 FROM audit.files WHERE feed = ? AND "
                                     "status = 'loaded' GROUP BY courier, sha256 HAVING count(*) > 1)",
                                     [feed]).fetchone()[0]
                out[feed] = {"rows": len(keys), "lost": len(ids - set(keys)),
                             "doubled": len(keys) - len(set(keys)) + len(set(keys) - ids) + pks[0] + pks[1],
                             "files_loaded_twice": twice}
        return out

    def agreement(self) -> dict[str, tuple[int, int]]:
        """Per feed: (domain rows, new keys audit.files recorded): equal after every committed load, since each
        file brings `rows` new keys (its update rows replace earlier ones)."""
        out = {}
        with WarehouseResource.from_settings().get_connection() as conn:
            for feed in FILES:
                if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'domain' AND "
                                    "table_name = ?", [feed]).fetchone()[0]:
                    continue
                rows = conn.execute(f"SELECT count(*) FROM domain.{feed}").fetchone()[0]
                files = conn.execute("SELECT count(*) FROM audit.files WHERE feed = ? AND status = 'loaded'",
                                     [feed]).fetchone()[0]
                out[feed] = (rows, files * self.rows)
        return out


class Zygote:
    def __init__(self, tenant: Tenant, feed: str):
        self.tenant, self.feed = tenant, feed
        self.home = tenant.root / f"home_{feed}"
        self.home.mkdir(exist_ok=True)
        (self.home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "DAGSTER_HOME": str(self.home)})
        assert json.loads(self.proc.stdout.readline()) == {"ready": True}

    def start(self, day: str) -> int:
        self.report = self.tenant.root / f"report_{self.feed}_{day}_{time.monotonic_ns()}.json"
        job = {"day": day, "catalog": str(self.tenant.catalog), "home": str(self.home), "group": GROUP[self.feed],
               "report": str(self.report)}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["pid"]

    def wait(self) -> dict:
        status = json.loads(self.proc.stdout.readline())
        report = json.loads(self.report.read_text()) if self.report.exists() else {}
        return {**status, **report}

    def runs(self) -> int:
        import dagster as dg

        with dg.DagsterInstance.local_temp(tempdir=str(self.home)) as instance:
            return instance.get_runs_count()

    def wait_for_load_step(self, runs_before: int, timeout: float = 120) -> bool:
        """Poll the run's event log until its load step has started (False: the run ended or time ran out)."""
        import dagster as dg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with dg.DagsterInstance.local_temp(tempdir=str(self.home)) as instance:
                if instance.get_runs_count() > runs_before:
                    run = instance.get_runs(limit=1)[0]
                    kinds = {r.dagster_event.event_type_value for r in instance.all_logs(run.run_id)
                             if r.dagster_event and (r.dagster_event.step_key or "").startswith("load__")}
                    if kinds & {"STEP_SUCCESS", "STEP_FAILURE"} or run.is_finished:
                        return False
                    if "STEP_START" in kinds:
                        return True
            time.sleep(0.05)
        return False

    def step_at_kill(self) -> str:
        """Where the last run was when it was killed: in its load step, before it, or after it."""
        import dagster as dg

        with dg.DagsterInstance.local_temp(tempdir=str(self.home)) as instance:
            runs = instance.get_runs(limit=1)
            if not runs:
                return "before the run"
            kinds = {r.dagster_event.event_type_value for r in instance.all_logs(runs[0].run_id)
                     if r.dagster_event and (r.dagster_event.step_key or "").startswith("load__")}
        if "STEP_START" not in kinds:
            return "before the load step"
        return "after the load step" if kinds & {"STEP_SUCCESS", "STEP_FAILURE"} else "in the load step"

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


# --------------------------------------------------------------------------- tests


def test_the_setting_decides_the_load_pools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("WORKFLOW_PLATFORM_WAREHOUSE_KIND", "duckdb")
    assert load_pool("customers") == WAREHOUSE_POOL
    monkeypatch.setenv("WORKFLOW_PLATFORM_WAREHOUSE_KIND", "ducklake")
    assert load_pool("customers") == "warehouse__customers"
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    defs = build_definitions(load_catalog(tmp_path))
    pools = {node.name: node.pool for node in defs.resolve_job_def("__ASSET_JOB").graph.node_defs}
    assert pools == {"load__customers": "warehouse__customers", "load__contacts": "warehouse__contacts"}
    monkeypatch.setenv("WORKFLOW_PLATFORM_WAREHOUSE_KIND", "iceberg")
    with pytest.raises(ValueError, match="duckdb, ducklake"):
        load_pool("customers")


@pytest.mark.slow  # 5 runs: 20-26 s on 2 busy cores
@pytest.mark.parametrize("catalog", ["sqlite", "postgres"])
def test_loads_on_a_ducklake_upsert_and_load_each_file_once(request, monkeypatch, tmp_path: Path, catalog: str):
    from workflow_platform.runner import run_workflow

    where = (lake_database(request.getfixturevalue("postgres_server")) if catalog == "postgres"
             else f"sqlite:{tmp_path / 'data' / 'lake' / 'catalog.sqlite'}")
    lake_env(monkeypatch, tmp_path, where)
    tenant = Tenant(tmp_path, rows=200)
    cat = load_catalog(tenant.catalog)
    for index in range(2):
        day = dt.date.fromisoformat(tenant.land_day(index))
        for group in GROUP.values():
            outcome = run_workflow(cat, window=(day, day), group=group, ingest_only=True)
            assert outcome.success, outcome.failures
    outcome = run_workflow(cat, window=(day, day), group="g_shop", ingest_only=True)  # every file loaded already
    assert outcome.success, outcome.failures
    assert {row.key: row.rows for row in outcome.rows}.get("domain/customers") in (None, 2 * 2 * 200)
    assert tenant.check() == {feed: {"rows": 2 * 2 * 200, "lost": 0, "doubled": 0, "files_loaded_twice": 0}
                              for feed in FILES}
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()  # everything went to the lake
    with WarehouseResource.from_settings().get_connection() as conn:
        updated = conn.execute("SELECT count(*) FROM domain.customers WHERE first_name = 'ANN1'").fetchone()[0]
        assert updated == 2 * 200 + 2 * 20  # day 1's own rows and the day-0 rows it updated


@pytest.mark.slow  # two processes, PostgreSQL, 9 runs of 40k rows per feed: 1-3 minutes on 2 busy cores
def test_two_feeds_load_at_once_from_two_processes_and_killed_loads_lose_nothing(postgres_server, monkeypatch,
                                                                                  tmp_path: Path):
    """The load steps of two feeds, one process each, overlap in time; then four times, one of the two runs is
    SIGKILLed at a random moment while both load, the other finishes, and the killed one runs again: after every
    kill each domain table agrees with audit.files, and in the end every source row is there exactly once."""
    lake_env(monkeypatch, tmp_path, lake_database(postgres_server))
    tenant = Tenant(tmp_path, rows=20_000)  # a load of a few seconds: long enough to overlap and to be hit
    zygotes = {feed: Zygote(tenant, feed) for feed in FILES}
    rng = random.Random(20261207)
    try:
        # 1. both feeds at once: the two load steps overlap in time (a DuckDB file would serialise them)
        day = tenant.land_day(0)
        for z in zygotes.values():
            z.start(day)
        reports = {feed: z.wait() for feed, z in zygotes.items()}
        assert all(r["code"] == 0 for r in reports.values()), reports
        (a_start, a_end), (b_start, b_end) = [(r["steps"]["STEP_START"], r["steps"]["STEP_SUCCESS"])
                                              for r in reports.values()]
        overlap = min(a_end, b_end) - max(a_start, b_start)
        assert overlap > 0, reports
        load_seconds = {feed: r["steps"]["STEP_SUCCESS"] - r["steps"]["STEP_START"] for feed, r in reports.items()}
        # 2. kill one feed's run at a random moment while the other loads; then run it again
        trials = []
        for index in range(1, 5):
            day = tenant.land_day(index)
            victim = "customers" if index % 2 else "contacts"
            runs_before = zygotes[victim].runs()
            pids = {feed: z.start(day) for feed, z in zygotes.items()}
            if zygotes[victim].wait_for_load_step(runs_before):  # then a random moment within it
                time.sleep(rng.uniform(0.05, 0.8) * load_seconds[victim])
            try:
                os.kill(pids[victim], signal.SIGKILL)
            except ProcessLookupError:
                pass
            reports = {feed: z.wait() for feed, z in zygotes.items()}
            if reports[victim].get("steps"):  # not killed: the next kill falls within a load step this long
                load_seconds[victim] = reports[victim]["steps"]["STEP_SUCCESS"] - reports[victim]["steps"]["STEP_START"]
            survivor = next(f for f in FILES if f != victim)
            assert reports[survivor]["code"] == 0, reports
            agreement = tenant.agreement()  # after the kill: each table old or new, never half
            killed = reports[victim]["signal"] == signal.SIGKILL
            trials.append({"victim": victim, "killed": killed, "when": zygotes[victim].step_at_kill() if killed
                           else "(run ended)", "agreement": agreement})
            assert all(rows == recorded for rows, recorded in agreement.values()), trials
            zygotes[victim].start(day)
            assert zygotes[victim].wait()["code"] == 0
    finally:
        for z in zygotes.values():
            z.close()
    print(json.dumps({"overlap_s": overlap, "load_s": load_seconds, "trials": trials}, indent=1))
    assert sum(t["killed"] for t in trials) >= 3, trials
    assert sum(t["when"] == "in the load step" for t in trials) >= 2, trials
    assert tenant.check() == {feed: {"rows": 5 * 2 * 20_000, "lost": 0, "doubled": 0, "files_loaded_twice": 0}
                              for feed in FILES}


class LakeHarness(Harness):
    """fault_injection.Harness on a DuckLake: the same tenant (two feeds, Stitch, a customer 360), the same kills
    and checks, reading the lake instead of the DuckDB file (the environment names it; `warehouse` is the lake's
    data folder, which exists once the first load has committed)."""

    def __init__(self, root: Path, **kwargs):
        super().__init__(root, **kwargs)
        self.warehouse = root / "data" / "lake"

    def _connect(self):
        return WarehouseResource.from_settings().get_connection()

    def tables(self) -> dict[str, str]:
        with self._connect() as conn:
            names = conn.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "AND schema_name IN ('domain', 'stitch', 'c360') AND table_name NOT IN ('runs', 'id_registry')"
            ).fetchall()
            out = {}
            for schema, table in names:
                columns = [c for (c,) in conn.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND "
                    "schema_name = ? AND table_name = ? AND column_name NOT IN ('_updated')", [schema, table]).fetchall()]
                select = ", ".join(f'"{c}"' for c in columns)
                out[f"{schema}.{table}"] = str(conn.execute(
                    f'SELECT count(*), sum(hash(row({select})))::HUGEINT FROM "{schema}"."{table}"').fetchone())
            return out

    def disagreements(self) -> list[str]:
        out = []
        with self._connect() as conn:
            for feed in FEED_OF.values():
                if not conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
                                    "AND schema_name = 'domain' AND table_name = ?", [feed]).fetchone()[0]:
                    continue
                in_table = conn.execute(f"SELECT count(*) FROM domain.{feed}").fetchone()[0]
                in_manifest = conn.execute("SELECT coalesce(sum(rows_loaded), 0) FROM audit.files WHERE feed = ? "
                                           "AND status = 'loaded'", [feed]).fetchone()[0]
                if in_table != in_manifest:
                    out.append(f"domain.{feed}: {in_table} rows, audit.files says {in_manifest}")
        return out

    def check(self) -> tuple[int, int, int, int, list[str]]:
        lost = duplicated = loaded = 0
        with self._connect() as conn:
            for feed, ids in self.source.items():
                rows = [key for (key,) in conn.execute(f"SELECT id FROM domain.{feed}").fetchall()]
                loaded += len(rows)
                lost += len(ids - set(rows))
                duplicated += len(rows) - len(set(rows)) + len(set(rows) - ids)
            twice = [f"{courier}:{file}" for courier, file, n in conn.execute(
                "SELECT courier, any_value(file), count(*) FROM audit.files WHERE status = 'loaded' "
                "GROUP BY courier, sha256 HAVING count(*) > 1").fetchall()]
        return sum(len(ids) for ids in self.source.values()), loaded, lost, duplicated, twice


LAKE_KILLS = 10


@pytest.mark.slow  # fault injection on a DuckLake in PostgreSQL: 10 killed runs and their re-runs, 5-10 minutes
def test_killing_runs_at_random_points_on_a_ducklake_loses_and_doubles_nothing(postgres_server, monkeypatch, tmp_path):
    """test_fault_injection.py's harness on the lake: loads, Stitch and the customer-360 build, killed at random."""
    lake_env(monkeypatch, tmp_path, lake_database(postgres_server))
    harness = LakeHarness(tmp_path, rows_per_file=50, seed=20261207)
    try:
        report = harness.run(LAKE_KILLS)
    finally:
        harness.close()
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    report.assert_nothing_lost_or_doubled(LAKE_KILLS)
