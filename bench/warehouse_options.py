"""A warehouse that many machines can write (issue #20, part 3): measure the options on this machine.

Runs in a venv with DuckDB 1.5.5 and the extension wheels (DuckDB 2.0 cannot install extensions offline):

    python -m venv /tmp/bv && /tmp/bv/bin/pip install duckdb==1.5.5 duckdb-extension-ducklake==1.5.5 \\
        duckdb-extension-postgres==1.5.5 duckdb-extension-sqlite-scanner==1.5.5 \\
        'pyiceberg[sql-sqlite,sql-postgres,pyarrow]==0.12.0' psycopg2-binary
    /tmp/bv/bin/python bench/warehouse_options.py [--rows 200000] [--batch 20000] [--loads 8] [--kills 6]
        [--only ducklake-postgres,ducklake-sqlite,ducklake-duckdb,duckdb-file,iceberg-sqlite,iceberg-postgres]

PostgreSQL 15 comes from /usr/lib/postgresql/15/bin (started on a free loopback port as user `nobody` when run as
root). Every scenario uses the load step's shape: per load, an upsert of `--batch` rows (half of them keys that
exist, half new: DELETE of the existing keys + INSERT, as ingest/domain/merge.py does) into `domain.t<i>` and one
row into `audit.files`, in ONE transaction. The invariant checked after every scenario: rows of a table ==
`--rows` + batch/2 x its committed audit rows, and no key twice.

Scenarios per option: sql (the SQL the platform runs), one writer (seconds per load), two writers on different
tables at once (conflicts, retries, wall time), two writers on the same table, a reader during writes (does every
read see a consistent snapshot), and a writer killed with SIGKILL at random moments (lost or doubled loads).
Writes bench/out/warehouse_options.json and prints a table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing as mp
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")

# --------------------------------------------------------------------------- PostgreSQL on loopback


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres(root: pathlib.Path) -> tuple[subprocess.Popen, str]:
    """initdb + postgres as a non-root user (`nobody` when we are root), trust auth, fsync off, a free port."""
    data, sock = root / "pgdata", root / "pgsock"
    sock.mkdir(parents=True, exist_ok=True)
    user = "nobody" if os.geteuid() == 0 else None
    if user:
        root.parent.chmod(0o755)  # mkdtemp's 0700 would keep the user out
        shutil.chown(root, user)
        shutil.chown(sock, user)
    subprocess.run([str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
                   check=True, capture_output=True, user=user, cwd=root)
    port = free_port()
    proc = subprocess.Popen([str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-c", "fsync=off",
                             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sock}",
                             "-c", "max_connections=100"], user=user, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=root)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                          check=False, capture_output=True).returncode == 0:
            return proc, f"host=127.0.0.1 port={port} dbname=postgres user=postgres"
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("postgres did not start")


def pg_create_db(dsn: str, name: str) -> str:
    import psycopg2
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return dsn.replace("dbname=postgres", f"dbname={name}")


# --------------------------------------------------------------------------- DuckDB / DuckLake connections


WHEELS = {"ducklake": "ducklake", "postgres": "postgres_scanner", "sqlite_scanner": "sqlite_scanner"}


def extension_directory() -> str:
    """An extension directory made of links to the binaries the `duckdb-extension-<name>` wheels ship, under the
    names DuckDB looks for (`postgres` must be `postgres_scanner`: its entry point is named after the file)."""
    import duckdb
    conn = duckdb.connect()
    platform = conn.execute("PRAGMA platform").fetchone()[0]
    conn.close()
    root = pathlib.Path(tempfile.gettempdir()) / f"wp_duckdb_extensions_{os.getuid()}"
    target = root / f"v{duckdb.__version__}" / platform
    target.mkdir(parents=True, exist_ok=True)
    for wheel, name in WHEELS.items():
        try:
            mod = importlib.import_module(f"duckdb_extension_{wheel}")
        except ImportError:
            continue
        binary = next(pathlib.Path(mod.__path__[0]).rglob("*.duckdb_extension"))
        link = target / f"{name}.duckdb_extension"
        if not link.exists():
            link.symlink_to(binary)
    return str(root)


def connect(spec: dict):
    """An in-memory DuckDB with the warehouse attached as `wh` and USEd: temp tables stay local."""
    import duckdb
    conn = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    kind = spec["kind"]
    if kind == "duckdb-file":
        deadline, delay = time.monotonic() + 120, 0.05
        while True:  # the file lock, as WarehouseResource waits for it
            try:
                conn.execute(f"ATTACH '{spec['path']}' AS wh")
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
    else:
        conn.execute(f"SET extension_directory = '{extension_directory()}'")
        conn.execute("SET autoload_known_extensions = true")  # from that directory only: autoinstall stays off
        catalog = spec["catalog"]
        conn.execute(f"ATTACH 'ducklake:{catalog}' AS wh (DATA_PATH '{spec['data']}')")
    conn.execute("USE wh")
    return conn


def setup_tables(spec: dict, tables: int, rows: int) -> None:
    conn = connect(spec)
    conn.execute("CREATE SCHEMA IF NOT EXISTS domain")
    conn.execute("CREATE SCHEMA IF NOT EXISTS audit")
    conn.execute("CREATE TABLE IF NOT EXISTS audit.files (load_id VARCHAR, tbl VARCHAR, rows BIGINT, loaded_at TIMESTAMP)")
    for i in range(tables):
        conn.execute(f"CREATE OR REPLACE TABLE domain.t{i} (_pk VARCHAR, id BIGINT, v VARCHAR, _load VARCHAR)")
        conn.execute(f"INSERT INTO domain.t{i} SELECT i::VARCHAR, i, md5(i::VARCHAR), 'initial' FROM range({rows}) r(i)")
    conn.close()


def one_load(conn, table: str, rows: int, batch: int, load_id: str) -> None:
    """The load step's transaction: upsert `batch` rows (half existing keys, half new) + one audit row."""
    new_from = conn.execute(f"SELECT max(id) + 1 FROM domain.{table}").fetchone()[0]
    half = batch // 2
    conn.execute(f"""CREATE OR REPLACE TEMP TABLE batch AS
        SELECT (i % {rows})::VARCHAR AS _pk, i % {rows} AS id, md5(random()::VARCHAR) AS v FROM range(0, {half}) r(i)
        UNION ALL SELECT i::VARCHAR, i, md5(random()::VARCHAR) FROM range({new_from}, {new_from + half}) r(i)""")
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(f"DELETE FROM domain.{table} WHERE _pk IN (SELECT _pk FROM batch)")
        conn.execute(f"INSERT INTO domain.{table} SELECT _pk, id, v, ? FROM batch", [load_id])
        conn.execute("INSERT INTO audit.files VALUES (?, ?, ?, now()::TIMESTAMP)", [load_id, table, batch])
        conn.execute("COMMIT")
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except Exception:  # noqa: BLE001, S110 (a failed commit has rolled back already)
            pass
        raise


def writer(spec: dict, table: str, loads: int, rows: int, batch: int, tag: str, out, retries: int = 20) -> None:
    """`loads` loads into `table`; a conflicting commit is retried from the start (new snapshot)."""
    import duckdb
    stats = {"loads": 0, "conflicts": 0, "errors": [], "seconds": []}
    conn = connect(spec) if spec["kind"] != "duckdb-file" else None
    for n in range(loads):
        for attempt in range(retries):
            t0 = time.perf_counter()
            try:
                if spec["kind"] == "duckdb-file":  # the pool's way: one connection (file lock) per load
                    conn = connect(spec)
                one_load(conn, table, rows, batch, f"{tag}-{n}")
                stats["seconds"].append(time.perf_counter() - t0)
                stats["loads"] += 1
                break
            except duckdb.Error as exc:
                msg = " ".join(str(exc).split())[:400]
                if "onflict" in msg or "retry" in msg.lower() or "TransactionContext" in msg:
                    stats["conflicts"] += 1
                    if len(stats["errors"]) < 3:
                        stats["errors"].append(msg)
                    time.sleep(random.uniform(0.05, 0.3) * (attempt + 1))
                    continue
                stats["errors"].append(msg)
                break
            finally:
                if spec["kind"] == "duckdb-file" and conn is not None:
                    conn.close()
                    conn = None
    if conn is not None:
        conn.close()
    out.put((tag, stats))


def forever_writer(spec: dict, table: str, rows: int, batch: int, tag: str, done) -> None:
    """Loads until killed (the crash scenario); `done` counts the loads committed."""
    conn = connect(spec)
    n = 0
    while True:
        try:
            one_load(conn, table, rows, batch, f"{tag}-{n}")
            with done.get_lock():
                done.value += 1
        except Exception:  # noqa: BLE001, S110 (a failed load is simply not counted)
            pass
        n += 1


def reader(spec: dict, table: str, rows: int, batch: int, seconds: float, out) -> None:
    """Reads the table and its audit rows in one transaction, over and over: each read must be consistent."""
    conn = connect(spec)
    reads = bad = errors = 0
    latencies = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        try:
            conn.execute("BEGIN TRANSACTION")
            n, keys = conn.execute(f"SELECT count(*), count(DISTINCT _pk) FROM domain.{table}").fetchone()
            audits = conn.execute("SELECT count(*) FROM audit.files WHERE tbl = ?", [table]).fetchone()[0]
            conn.execute("COMMIT")
        except Exception:  # noqa: BLE001
            errors += 1
            conn.execute("ROLLBACK")
            continue
        latencies.append(time.perf_counter() - t0)
        reads += 1
        bad += (n != keys) or (n != rows + batch // 2 * audits)
    out.put(("reader", {"reads": reads, "inconsistent": bad, "errors": errors,
                        "median_read_s": sorted(latencies)[len(latencies) // 2] if latencies else None}))


def check(spec: dict, tables: int, rows: int, batch: int) -> dict:
    conn = connect(spec)
    result = {}
    for i in range(tables):
        n, keys = conn.execute(f"SELECT count(*), count(DISTINCT _pk) FROM domain.t{i}").fetchone()
        audits, distinct_ids = conn.execute(
            "SELECT count(*), count(DISTINCT load_id) FROM audit.files WHERE tbl = ?", [f"t{i}"]).fetchone()
        orphans = conn.execute(f"SELECT count(DISTINCT _load) FROM domain.t{i} WHERE _load <> 'initial' AND _load NOT IN "
                               "(SELECT load_id FROM audit.files)").fetchone()[0]
        result[f"t{i}"] = {"rows": n, "distinct_keys": keys, "expected_rows": rows + batch // 2 * audits,
                           "audit_rows": audits, "ok": n == keys == rows + batch // 2 * audits
                           and audits == distinct_ids and orphans == 0, "loads_without_audit_row": orphans}
    conn.close()
    return result


# --------------------------------------------------------------------------- the SQL the platform runs

SQL_CHECKS = [
    ("schemas", "CREATE SCHEMA IF NOT EXISTS s"),
    ("virtual generated column (domain._pk)",
     "CREATE TABLE s.g (a VARCHAR, b VARCHAR, _pk VARCHAR GENERATED ALWAYS AS (a || '|' || b) VIRTUAL)"),
    ("plain table, NOT NULL, DEFAULT", "CREATE TABLE s.t (a VARCHAR NOT NULL, b VARCHAR, n BIGINT DEFAULT 0, j JSON)"),
    ("ALTER TABLE ADD COLUMN IF NOT EXISTS", "ALTER TABLE s.t ADD COLUMN IF NOT EXISTS c BIGINT DEFAULT 0"),
    ("INSERT", "INSERT INTO s.t VALUES ('x', 'y', 1, '{}', 2), ('z', 'w', 3, '[]', 4)"),
    ("MERGE INTO (upsert)", ("MERGE INTO s.t USING (SELECT 'x' a, 'new' b) src ON t.a = src.a "
     "WHEN MATCHED THEN UPDATE SET b = src.b WHEN NOT MATCHED THEN INSERT (a, b) VALUES (src.a, src.b)")),
    ("DELETE ... WHERE IN (subquery)", "DELETE FROM s.t WHERE a IN (SELECT 'z')"),
    ("UPDATE", "UPDATE s.t SET n = n + 1"),
    ("CREATE OR REPLACE TABLE AS", "CREATE OR REPLACE TABLE s.c AS SELECT * FROM s.t"),
    ("CREATE OR REPLACE TABLE AS (again)", "CREATE OR REPLACE TABLE s.c AS SELECT 1 AS x"),
    ("CREATE OR REPLACE VIEW", "CREATE OR REPLACE VIEW s.v AS SELECT * FROM s.t"),
    ("duckdb_columns()", "SELECT count(*) FROM duckdb_columns() WHERE schema_name = 's' AND table_name = 't'"),
    ("duckdb_tables()", "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 's'"),
    ("information_schema.columns.is_generated",
     "SELECT is_generated FROM information_schema.columns WHERE table_schema = 's' AND table_name = 't' LIMIT 1"),
    ("temp tables beside it", "CREATE TEMP TABLE tmp AS SELECT 1 AS x"),
    ("transaction spanning two tables + DDL",
     ("BEGIN; CREATE TABLE s.t2 (x INT); INSERT INTO s.t2 VALUES (1); DELETE FROM s.t WHERE false; COMMIT")),
    ("PRIMARY KEY (audit.versions)", "CREATE TABLE s.pk (name VARCHAR PRIMARY KEY)"),
    ("CREATE INDEX", "CREATE INDEX i ON s.t (a)"),
    ("DROP TABLE", "DROP TABLE s.c"),
]


def sql_support(spec: dict) -> dict:
    conn = connect(spec)
    out = {}
    for name, sql in SQL_CHECKS:
        try:
            conn.execute(sql)
            out[name] = "ok"
        except Exception as exc:  # noqa: BLE001
            out[name] = "ERROR: " + str(exc).splitlines()[0][:160]
            try:
                conn.execute("ROLLBACK")
            except Exception:  # noqa: BLE001, S110 (nothing was open)
                pass
    conn.close()
    return out


# --------------------------------------------------------------------------- scenarios


def guarded(target, args, q) -> None:
    """Run a scenario process; a crash is reported instead of leaving the parent waiting."""
    try:
        target(*args, q)
    except BaseException as exc:  # noqa: BLE001 (reported to the parent)
        q.put((f"crashed:{target.__name__}:{args[-1]}", {"error": f"{type(exc).__name__}: {exc}"[:300]}))


def run_procs(targets: list[tuple]) -> tuple[float, dict]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=guarded, args=(t, a, q)) for t, a in targets]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = dict(q.get(timeout=900) for _ in procs)
    for p in procs:
        p.join()
    return time.perf_counter() - t0, results


def summarize(stats: dict) -> dict:
    s = sorted(stats["seconds"])
    return {"loads": stats["loads"], "conflicts": stats["conflicts"], "errors": stats["errors"][:3],
            "median_load_s": round(s[len(s) // 2], 3) if s else None}


def ducklake_or_file(spec: dict, args) -> dict:
    rows, batch, loads = args.rows, args.batch, args.loads
    res: dict = {}
    if spec["kind"] != "duckdb-file":
        res["sql"] = sql_support(spec)
    setup_tables(spec, 2, rows)
    # one writer, then two writers on different tables at once
    wall, r = run_procs([(writer, (spec, "t0", loads, rows, batch, "one"))])
    res["one_writer"] = {"wall_s": round(wall, 2), **summarize(r["one"])}
    wall, r = run_procs([(writer, (spec, "t0", loads, rows, batch, "a")),
                         (writer, (spec, "t1", loads, rows, batch, "b"))])
    res["two_writers_different_tables"] = {"wall_s": round(wall, 2), "a": summarize(r["a"]), "b": summarize(r["b"])}
    # two writers on the same table
    wall, r = run_procs([(writer, (spec, "t1", loads, rows, batch, "c")),
                         (writer, (spec, "t1", loads, rows, batch, "d"))])
    res["two_writers_same_table"] = {"wall_s": round(wall, 2), "c": summarize(r["c"]), "d": summarize(r["d"])}
    # a reader during writes
    wall, r = run_procs([(writer, (spec, "t0", loads, rows, batch, "w")),
                         (reader, (spec, "t0", rows, batch, max(10.0, loads * 1.5)))])
    res["reader_during_writes"] = {"writer": summarize(r["w"]), **r["reader"]}
    res["check_after_concurrency"] = check(spec, 2, rows, batch)
    # kill a writer at random moments: after its first committed load, within about two loads' time
    ctx = mp.get_context("spawn")
    kills = []
    load_s = res["one_writer"]["median_load_s"] or 0.3
    for k in range(args.kills):
        done = ctx.Value("i", 0)
        p = ctx.Process(target=forever_writer, args=(spec, "t0", rows, batch, f"kill{k}", done))
        p.start()
        deadline = time.monotonic() + 120
        while done.value < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.uniform(0, 2 * load_s))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        kills.append({"committed_before_kill": done.value, **check(spec, 1, rows, batch)["t0"]})
    res["killed_writer"] = {"kills": args.kills, "all_consistent": all(c["ok"] for c in kills),
                            "loads_committed_by_killed_writers": sum(c["committed_before_kill"] for c in kills),
                            "checks": kills}
    return res


def ducklake_duckdb_catalog_second_process(spec: dict) -> str:
    """A DuckDB-file catalog is a DuckDB file: can a second process attach it while the first is attached?"""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    conn = connect(spec)
    p = ctx.Process(target=_try_attach, args=(spec, q))
    p.start()
    msg = q.get(timeout=120)
    p.join()
    conn.close()
    return msg


def _try_attach(spec, q):
    try:
        connect(spec).close()
        q.put("second process attached")
    except Exception as exc:  # noqa: BLE001
        q.put("second process refused: " + str(exc).splitlines()[0][:200])


# --------------------------------------------------------------------------- Iceberg (pyiceberg SQL catalog)


def iceberg_catalog(uri: str, warehouse: str):
    from pyiceberg.catalog.sql import SqlCatalog
    return SqlCatalog("wh", uri=uri, warehouse=f"file://{warehouse}")


def iceberg_writer(uri, warehouse, table, loads, batch, tag, out):
    import pyarrow as pa
    from pyiceberg.exceptions import CommitFailedException
    cat = iceberg_catalog(uri, warehouse)
    stats = {"loads": 0, "conflicts": 0, "errors": [], "seconds": []}
    for n in range(loads):
        for _attempt in range(20):
            t0 = time.perf_counter()
            try:
                t = cat.load_table(f"domain.{table}")
                base = n * batch + hash(tag) % 1000 * 10_000_000
                t.upsert(pa.table({"_pk": [str(base + i) for i in range(batch)], "id": list(range(batch)),
                                   "v": ["x"] * batch}), join_cols=["_pk"])
                # the audit row is a SECOND commit: no transaction spans the two tables
                cat.load_table("audit.files").append(pa.table({"load_id": [f"{tag}-{n}"], "tbl": [table]}))
                stats["seconds"].append(time.perf_counter() - t0)
                stats["loads"] += 1
                break
            except CommitFailedException as exc:
                stats["conflicts"] += 1
                if len(stats["errors"]) < 2:
                    stats["errors"].append(str(exc)[:160])
                time.sleep(random.uniform(0.05, 0.3))
            except Exception as exc:  # noqa: BLE001
                stats["errors"].append(f"{type(exc).__name__}: {str(exc)[:160]}")
                break
    out.put((tag, stats))


def iceberg(uri: str, root: pathlib.Path, args) -> dict:
    import pyarrow as pa
    warehouse = root / "iceberg"
    warehouse.mkdir(parents=True, exist_ok=True)
    cat = iceberg_catalog(uri, str(warehouse))
    for ns in ("domain", "audit"):
        cat.create_namespace_if_not_exists(ns)
    schema = pa.schema([("_pk", pa.string()), ("id", pa.int64()), ("v", pa.string())])
    res = {}
    rows = args.rows
    for name in ("t0", "t1"):
        t = cat.create_table(f"domain.{name}", schema=schema)
        t0 = time.perf_counter()
        t.append(pa.table({"_pk": [str(i) for i in range(rows)], "id": list(range(rows)), "v": ["x"] * rows},
                          schema=schema))
        res.setdefault("append_s", {})[name] = round(time.perf_counter() - t0, 2)
    cat.create_table("audit.files", schema=pa.schema([("load_id", pa.string()), ("tbl", pa.string())]))
    t = cat.load_table("domain.t0")
    half = args.batch // 2
    up = pa.table({"_pk": [str(i) for i in range(half)] + [str(rows + i) for i in range(half)],
                   "id": list(range(args.batch)), "v": ["y"] * args.batch}, schema=schema)
    t0 = time.perf_counter()
    r = t.upsert(up, join_cols=["_pk"])
    res["upsert_batch_s"] = round(time.perf_counter() - t0, 2)
    res["upsert_result"] = {"updated": r.rows_updated, "inserted": r.rows_inserted}
    loads = max(2, args.loads // 2)
    wall, rr = run_procs([(iceberg_writer, (uri, str(warehouse), "t0", loads, 2000, "a")),
                          (iceberg_writer, (uri, str(warehouse), "t1", loads, 2000, "b"))])
    res["two_writers_different_tables"] = {"wall_s": round(wall, 2), "a": summarize(rr["a"]), "b": summarize(rr["b"])}
    wall, rr = run_procs([(iceberg_writer, (uri, str(warehouse), "t1", loads, 2000, "c")),
                          (iceberg_writer, (uri, str(warehouse), "t1", loads, 2000, "d"))])
    res["two_writers_same_table"] = {"wall_s": round(wall, 2), "c": summarize(rr["c"]), "d": summarize(rr["d"])}
    import duckdb
    t0 = time.perf_counter()
    arrow = cat.load_table("domain.t1").scan().to_arrow()
    rows_read = duckdb.connect().from_arrow(arrow).aggregate("count(*)").fetchone()[0]
    res["duckdb_read_through_arrow"] = {"rows": rows_read,
                                        "seconds": round(time.perf_counter() - t0, 2)}
    return res


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000, help="rows in each table before the loads")
    ap.add_argument("--batch", type=int, default=20_000, help="rows per load (half updates, half new keys)")
    ap.add_argument("--loads", type=int, default=8, help="loads per writer")
    ap.add_argument("--kills", type=int, default=6, help="writers killed at a random moment")
    ap.add_argument("--only", default="ducklake-postgres,ducklake-sqlite,ducklake-duckdb,duckdb-file,"
                                      "iceberg-sqlite,iceberg-postgres")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).parent / "out" / "warehouse_options.json"))
    args = ap.parse_args()
    import duckdb
    results: dict = {"duckdb": duckdb.__version__, "cores": os.cpu_count(), "rows": args.rows, "batch": args.batch,
                     "loads": args.loads}
    root = pathlib.Path(tempfile.mkdtemp(prefix="wh_bench_"))
    pg = None
    only = args.only.split(",")
    try:
        if any(o.endswith("postgres") for o in only):
            t0 = time.perf_counter()
            pg, dsn = start_postgres(root / "pg")
            results["postgres_start_s"] = round(time.perf_counter() - t0, 2)
        for option in only:
            print(f"== {option}", flush=True)
            t0 = time.perf_counter()
            d = root / option
            d.mkdir()
            if option == "duckdb-file":
                results[option] = ducklake_or_file({"kind": "duckdb-file", "path": str(d / "wh.duckdb")}, args)
            elif option.startswith("ducklake-"):
                backend = option.removeprefix("ducklake-")
                catalog = {"postgres": lambda: "postgres:" + pg_create_db(dsn, "lake"),
                           "sqlite": lambda d=d: f"sqlite:{d}/catalog.sqlite",
                           "duckdb": lambda d=d: f"{d}/catalog.ducklake"}[backend]()
                spec = {"kind": "ducklake", "catalog": catalog, "data": str(d / "data") + "/"}
                if backend == "duckdb":
                    results[option] = {"sql": sql_support(spec),
                                       "second_process": ducklake_duckdb_catalog_second_process(spec)}
                else:
                    results[option] = ducklake_or_file(spec, args)
            elif option == "iceberg-sqlite":
                results[option] = iceberg(f"sqlite:///{d}/catalog.sqlite", d, args)
            elif option == "iceberg-postgres":
                uri = "postgresql+psycopg2://postgres@127.0.0.1:" + dsn.split("port=")[1].split()[0] + "/iceberg"
                pg_create_db(dsn, "iceberg")
                results[option] = iceberg(uri, d, args)
            results[option]["scenario_wall_s"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(results[option], indent=1, default=str), flush=True)
    finally:
        if pg:
            pg.send_signal(signal.SIGINT)  # fast shutdown: clients are cut off
            pg.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    sys.exit(main())
