"""Benchmark: exporting a large audience to a gzip CSV through the send path, against DuckDB's own COPY.

The script builds a DuckDB warehouse file with a ``segment.audience`` table of N rows (generated in SQL), then
runs each measurement in a FRESH child process (this script again, ``--child KIND``), so the peak RSS of each
is its own: ``ru_maxrss`` of that child from ``os.wait4``, cross-checked with the child's own ``VmHWM``. Linux
carries the parent's peak RSS into ``ru_maxrss`` across fork+exec, so the parent stays lean: it never opens
DuckDB itself (building the warehouse and reading the outputs back also run in children).

* BASELINE: ``COPY (SELECT * FROM segment.audience) TO 'x.csv.gz' (FORMAT csv, COMPRESSION gzip)`` on a
  connection with the platform's ``memory_limit`` (``WORKFLOW_PLATFORM_MEMORY_LIMIT``, default 1GB) and
  DuckDB's default threads, as ``WarehouseResource`` opens it;
* SEND: ``orchestrations.send.send_rows`` of ``template_select(None, "segment.audience")`` to a local gzip
  destination, file name ``{{ name }}.csv.gz``, on a ``WarehouseResource`` connection (export + delivery);
* SEND SPLIT: the same with ``split_rows`` (default 250,000) and ``{{ name }}_{{ file_number }}.csv.gz``
  (numbers the rows once into a temp table, then one COPY per part).

Webhook sends are out of scope. Every output is read back (row count with DuckDB ``read_csv``, and the
decompressed text compared with the baseline's). Reported: seconds (the export alone, timed inside the
child), peak RSS, the ratios send/baseline, and PASS/FAIL for peak RSS < 1024 MB (the issue's target for
1,000,000 rows) for both send paths. It is a benchmark, not a test: the exit code is 0 unless something
crashed or an output's rows are wrong (1); ``--strict`` also exits 1 on an RSS FAIL.

    .venv/bin/python bench/export.py                    # 1,000,000 rows
    .venv/bin/python bench/export.py --rows 100000      # CI size
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)


# DuckDB and the product modules are imported inside the children that use them: the baseline child's RSS holds
# only DuckDB, and the parent (whose peak RSS every child's ru_maxrss starts from) holds neither.

RSS_TARGET_MB = 1024.0
KINDS = ("baseline", "send", "send_split")
LABELS = {"baseline": "duckdb COPY (baseline)", "send": "send_rows", "send_split": "send_rows split"}
TEMPLATE = "{{ name }}.csv.gz"
SPLIT_TEMPLATE = "{{ name }}_{{ file_number }}.csv.gz"

# --------------------------------------------------------------------------- data


def _pick(values: list[str], salt: int) -> str:
    """SQL choosing one of `values` from the row hash salted with `salt` (deterministic per row)."""
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"[{items}][1 + CAST(hash(i * 1009 + {salt}) % {len(values)} AS BIGINT)]"


GIVEN_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
               "William", "Barbara", "Richard", "Susan", "José", "Zoë", "Renée", "Chloé", "Ángel", "Noah", "Olivia",
               "Liam", "Emma", "Mia", "Lucas", "Sofia", "Ethan", "Ava", "Mateo", "Isabella"]
SURNAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
            "Hernández", "Lopez", "Gonzalez", "Wilson", "Anderson", "O'Brien", "Thomas", "Taylor", "Moore",
            "Jackson", "Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez", "Clark", "Ramírez",
            "Lewis", "McDonald", "Van Dyke", "St. John"]
SYLLABLES = ["ab", "bar", "ber", "cal", "dor", "el", "fen", "gar", "hal", "ing", "jor", "kel", "lan", "mor", "nes",
             "olt", "per", "quin", "ros", "sten", "tor", "ul", "van", "wick", "yar", "zel", "son", "ley", "ton", "ford"]
EMAIL_DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net",
                 "proton.me"]
CITIES = ["New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio", "San Diego",
          "Dallas", "San José", "Austin", "Jacksonville", "Fort Worth", "Columbus", "Charlotte", "St. Louis",
          "Seattle", "Denver", "Boston", "Coeur d'Alene"]
CITY_SUFFIXES = ["", "", "", "", "", " Heights", " Springs", " Falls", " Park", " Beach", " Hills", " City"]


def audience_sql(rows: int) -> str:
    """CREATE the segment.audience table: `rows` standardized customers, as a segment holds them.

    Surnames have tens of thousands of distinct values (half made up from syllables), emails are unique,
    phones E.164 (5% missing), revenue DECIMAL(12,2), last order dates over six years (3% missing)."""
    made_up = " || ".join(_pick(SYLLABLES, salt) for salt in (7, 8, 9))
    surname = f"""CASE WHEN hash(i * 1009 + 6) % 2 = 0 THEN {_pick(SURNAMES, 2)}
            ELSE upper(left({made_up}, 1)) || substr({made_up}, 2) END"""

    def ascii_name(column: str) -> str:
        out = f"lower(strip_accents({column}))"
        for mark in ("''", " ", "."):
            out = f"replace({out}, '{mark}', '')"
        return out

    phone = ("CASE WHEN hash(i * 1009 + 23) % 20 = 0 THEN NULL ELSE '+1' "
             "|| CAST(200 + hash(i * 1009 + 20) % 800 AS VARCHAR) "
             "|| lpad(CAST(hash(i * 1009 + 21) % 1000 AS VARCHAR), 3, '0') "
             "|| lpad(CAST(hash(i * 1009 + 22) % 10000 AS VARCHAR), 4, '0') END")
    return f"""
        CREATE SCHEMA IF NOT EXISTS segment;
        CREATE OR REPLACE TABLE segment.audience AS
        SELECT 'C' || lpad(CAST(i + 1 AS VARCHAR), 10, '0') AS customer_id,
               given_name,
               surname,
               {ascii_name('given_name')} || '.' || {ascii_name('surname')} || CAST(i AS VARCHAR)
                   || '@' || {_pick(EMAIL_DOMAINS, 11)} AS email,
               {phone} AS phone,
               lpad(CAST(1001 + hash(i * 1009 + 40) % 98998 AS VARCHAR), 5, '0') AS postal,
               {_pick(CITIES, 35)} || {_pick(CITY_SUFFIXES, 38)} AS city,
               CAST(CAST(hash(i * 1009 + 70) % 2500000 AS BIGINT) / 100.0 AS DECIMAL(12, 2)) AS total_revenue,
               CASE WHEN hash(i * 1009 + 81) % 33 = 0 THEN NULL
                    ELSE DATE '2019-01-01' + CAST(hash(i * 1009 + 80) % 2190 AS INTEGER) END AS last_order_date
        FROM (SELECT i, {_pick(GIVEN_NAMES, 1)} AS given_name, {surname} AS surname FROM range({int(rows)}) t(i))
    """


def build_warehouse(rows: int, path: Path) -> dict:
    """Write a fresh warehouse file with segment.audience (checkpointed on close)."""
    import duckdb

    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)
    conn = duckdb.connect(str(path))
    try:
        conn.execute(audience_sql(rows))
        count = conn.execute("SELECT count(*) FROM segment.audience").fetchone()[0]
    finally:
        conn.close()
    return {"rows": count, "bytes": path.stat().st_size, "duckdb_version": duckdb.__version__}


# --------------------------------------------------------------------------- children (one measurement each)


def _rss_mb() -> float:
    """This process's peak RSS so far, in MB (ru_maxrss is in KiB on Linux; it includes the parent's peak
    at the fork, which is why the parent stays lean)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _vm_hwm_mb() -> float | None:
    """This process's own peak RSS since exec (VmHWM of /proc/self/status), in MB; None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def child_baseline(database: Path, out: Path, memory_limit: str) -> dict:
    """DuckDB's own COPY to one gzip CSV, on a connection configured as the platform's warehouse connection."""
    import duckdb

    conn = duckdb.connect(str(database), config={"memory_limit": memory_limit})
    try:
        settings = _settings(conn)
        rss_before = _rss_mb()
        target = str(out / "baseline.csv.gz").replace("'", "''")
        started = time.perf_counter()
        rows = conn.execute(f"COPY (SELECT * FROM segment.audience) TO '{target}' "
                            "(FORMAT csv, COMPRESSION gzip)").fetchone()[0]
        seconds = time.perf_counter() - started
    finally:
        conn.close()
    return {"seconds": seconds, "rows": rows, "files": 1, "rss_before_mb": rss_before, **settings}


def child_send(database: Path, out: Path, split_rows: int | None) -> dict:
    """send_rows to a local gzip destination on a WarehouseResource connection (export, then delivery)."""
    import datetime as dt

    from workflow_platform.catalog.models import Destination
    from workflow_platform.orchestrations.export import template_select
    from workflow_platform.orchestrations.send import SendNames, send_rows
    from workflow_platform.resources import WarehouseResource

    destination = Destination(name="bench", type="local", url=str(out), compression="gzip", split_rows=split_rows)
    template = SPLIT_TEMPLATE if split_rows else TEMPLATE
    now = dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.UTC)
    with WarehouseResource(database=str(database)).get_connection() as conn:
        settings = _settings(conn)
        rss_before = _rss_mb()
        started = time.perf_counter()
        summary = send_rows(conn, template_select(None, "segment.audience"), destination, template,
                            SendNames("bench"), now)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": summary.rows, "files": summary.files, "rss_before_mb": rss_before,
            **settings}


def _settings(conn) -> dict:  # conn: a DuckDB connection (duckdb is imported in the children only)
    memory_limit, threads = conn.execute(
        "SELECT current_setting('memory_limit'), current_setting('threads')").fetchone()
    return {"memory_limit": memory_limit, "threads": threads}


def run_child(args: argparse.Namespace) -> int:
    """Entry point of a child process: one measurement, its figures written as JSON to --result."""
    if args.child == "build":
        result = build_warehouse(args.rows, args.database)
    elif args.child == "verify":
        result = read_back(sorted(p for p in args.out.iterdir() if p.is_file() and not p.name.startswith(".")))
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        if args.child == "baseline":
            result = child_baseline(args.database, args.out, args.memory_limit)
        else:
            result = child_send(args.database, args.out, args.split_rows if args.child == "send_split" else None)
    result["vm_hwm_mb"] = _vm_hwm_mb()
    args.result.write_text(json.dumps(result))
    return 0


def spawn(child: str, result_path: Path, options: list[str], env: dict | None = None) -> dict:
    """Run this script as `--child CHILD` and return its JSON result, with its wall time and ru_maxrss."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", child, "--result", str(result_path),
               *options]
    parent_rss = _rss_mb()
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)  # this child's rusage alone, not every child's maximum
    process.returncode = os.waitstatus_to_exitcode(status)
    process_seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{child} child exited with {process.returncode}")
    result = json.loads(result_path.read_text())
    result.update(process_seconds=process_seconds, peak_rss_mb=usage.ru_maxrss / 1024.0, parent_rss_mb=parent_rss)
    return result


def measure(kind: str, database: Path, scratch: Path, round_no: int, split_rows: int,
            memory_limit: str) -> tuple[dict, Path]:
    """Run one measurement in a fresh child; its peak RSS comes from wait4, its export time from the child."""
    work = scratch / f"{kind}-{round_no}"
    shutil.rmtree(work, ignore_errors=True)
    out, data = work / "out", work / "data"
    out.mkdir(parents=True)
    data.mkdir()
    env = {**os.environ, "WORKFLOW_PLATFORM_DATA": str(data)}  # send_rows' scratch folder goes here
    result = spawn(kind, work / "result.json", ["--database", str(database), "--out", str(out),
                                                "--split-rows", str(split_rows), "--memory-limit", memory_limit], env)
    result.update(kind=kind, round=round_no)
    files = sorted(p for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    result["files_written"] = len(files)
    leftovers = [str(p) for p in data.rglob("*") if p.is_file()]
    if leftovers:
        result["scratch_leftovers"] = leftovers
    return result, out


# --------------------------------------------------------------------------- checks


def read_back(files: list[Path]) -> dict:
    """Rows by DuckDB read_csv, data lines, and sha256 of the header + every data line in file order."""
    import duckdb

    conn = duckdb.connect()
    try:
        rows = sum(conn.execute("SELECT count(*) FROM read_csv(?, header = true, all_varchar = true)",
                                [str(f)]).fetchone()[0] for f in files)
    finally:
        conn.close()
    digest, lines = hashlib.sha256(), 0
    for number, path in enumerate(files):
        with gzip.open(path, "rb") as stream:
            header = stream.readline()
            if number == 0:
                digest.update(header)
            for line in stream:
                digest.update(line)
                lines += 1
    return {"rows": rows, "lines": lines, "sha256": digest.hexdigest(), "files": len(files),
            "bytes": sum(f.stat().st_size for f in files)}


# --------------------------------------------------------------------------- report


def summarize(rows: int, runs: list[dict], checks: dict[str, dict], split_rows: int, repeat: int,
              duckdb_version: str) -> dict:
    """Best time and worst peak RSS of each kind, the ratios against the baseline, and the verdicts."""
    result: dict = {"rows": rows, "repeat": repeat, "split_rows": split_rows, "duckdb_version": duckdb_version,
                    "rss_target_mb": RSS_TARGET_MB}
    for kind in KINDS:
        mine = [r for r in runs if r["kind"] == kind]
        if not mine:
            continue
        best = min(mine, key=lambda r: r["seconds"])
        result[kind] = {
            "seconds": best["seconds"],
            "process_seconds": min(r["process_seconds"] for r in mine),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in mine),
            "vm_hwm_mb": max((r["vm_hwm_mb"] or 0.0) for r in mine) or None,
            "parent_rss_mb": max(r["parent_rss_mb"] for r in mine),
            "rss_before_export_mb": max(r["rss_before_mb"] for r in mine),
            "files": best["files"],
            "rows_reported": best["rows"],
            "memory_limit": best["memory_limit"],
            "threads": best["threads"],
            **checks[kind],
        }
        if any("scratch_leftovers" in r for r in mine):
            result[kind]["scratch_leftovers"] = [p for r in mine for p in r.get("scratch_leftovers", [])]
    base = result.get("baseline")
    for kind in ("send", "send_split"):
        if kind not in result:
            continue
        entry = result[kind]
        if base:
            entry["time_ratio"] = entry["seconds"] / base["seconds"]
            entry["rss_ratio"] = entry["peak_rss_mb"] / base["peak_rss_mb"]
        entry["rss_pass"] = entry["peak_rss_mb"] < RSS_TARGET_MB
    result["rows_ok"] = all(result[k]["rows_ok"] for k in KINDS if k in result)
    return result


def print_report(result: dict) -> None:
    def fmt(value: float | None, spec: str) -> str:
        return "" if value is None else format(value, spec)

    print(f"\nexport benchmark: {result['rows']:,} rows to gzip CSV, DuckDB {result['duckdb_version']}, "
          f"best time / worst RSS of {result['repeat']}, split_rows {result['split_rows']:,}")
    first = next(result[k] for k in KINDS if k in result)
    print(f"  connection: memory_limit {first['memory_limit']}, threads {first['threads']}")
    header = (f"  {'':<24}{'rows read back':>15}{'files':>7}{'export s':>10}{'process s':>11}{'RSS before':>12}"
              f"{'peak RSS MB':>13}{'VmHWM':>7}{'time x':>8}{'RSS x':>7}{'same text':>11}"
              f"  RSS < {RSS_TARGET_MB:.0f} MB")
    print(header)
    for kind in KINDS:
        if kind not in result:
            continue
        entry = result[kind]
        verdict = "" if kind == "baseline" else ("PASS" if entry["rss_pass"] else "FAIL")
        same = {None: "", True: "yes", False: "NO"}[entry.get("same_text_as_baseline")]
        rows = f"{entry['rows_read_back']:,}" + ("" if entry["rows_ok"] else " (WRONG)")
        print(f"  {LABELS[kind]:<24}{rows:>15}{entry['files']:>7}{entry['seconds']:>10.2f}"
              f"{entry['process_seconds']:>11.2f}{entry['rss_before_export_mb']:>12.0f}{entry['peak_rss_mb']:>13.0f}"
              f"{fmt(entry['vm_hwm_mb'], '.0f'):>7}"
              f"{fmt(entry.get('time_ratio'), '.2f'):>8}{fmt(entry.get('rss_ratio'), '.2f'):>7}{same:>11}  {verdict}")
        if entry.get("scratch_leftovers"):
            print(f"    ! left in the send scratch folder: {entry['scratch_leftovers'][:3]}")
    print("  (export s: the COPY / send_rows call alone; RSS before: the child after imports and connect;"
          " peak RSS: ru_maxrss\n   of the child from wait4; VmHWM: the child's own peak since exec; x: ratio to"
          f" the baseline; parent RSS {max(result[k]['parent_rss_mb'] for k in KINDS if k in result):.0f} MB)")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in segment.audience (default 1,000,000)")
    parser.add_argument("--split-rows", type=int, default=250_000,
                        help="split_rows of the split send (default 250,000)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds, each kind in a fresh child per round; best time, worst RSS (default 1)")
    parser.add_argument("--only", nargs="+", choices=KINDS, default=list(KINDS),
                        help="which measurements to run (default all)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (warehouse, outputs)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a send path misses the RSS target")
    parser.add_argument("--quiet", action="store_true", help="print only the JSON line")
    # internal: one measurement in a child process
    parser.add_argument("--child", choices=(*KINDS, "build", "verify"), help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--memory-limit", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1 or args.split_rows < 1:
        parser.error("--rows, --repeat and --split-rows must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    from workflow_platform.settings import warehouse_memory_limit  # the limit WarehouseResource uses

    log = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    scratch = args.keep.resolve() if args.keep else Path(tempfile.mkdtemp(prefix="wp-bench-export-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        database = scratch / "warehouse.duckdb"
        built = spawn("build", scratch / "build.json", ["--database", str(database), "--rows", str(args.rows)])
        if built["rows"] != args.rows:
            raise RuntimeError(f"segment.audience has {built['rows']:,} rows, expected {args.rows:,}")
        log(f"built {database} (segment.audience, {args.rows:,} rows, {built['bytes'] / 2**20:,.0f} MB) "
            f"in {built['process_seconds']:.1f} s")
        memory_limit = warehouse_memory_limit()
        runs: list[dict] = []
        checks: dict[str, dict] = {}
        digests: dict[str, str] = {}
        for round_no in range(1, args.repeat + 1):
            for kind in KINDS:
                if kind not in args.only:
                    continue
                run, out = measure(kind, database, scratch, round_no, args.split_rows, memory_limit)
                runs.append(run)
                log(f"round {round_no}: {LABELS[kind]:<24} {run['seconds']:6.2f} s,"
                    f" peak RSS {run['peak_rss_mb']:6.0f} MB (VmHWM {run['vm_hwm_mb'] or 0:.0f}),"
                    f" {run['files_written']} file(s)")
                if round_no == 1:  # every round writes the same files; read back the first
                    back = spawn("verify", scratch / f"verify-{kind}.json", ["--out", str(out)])
                    expected_files = -(-args.rows // args.split_rows) if kind == "send_split" else 1
                    digests[kind] = back["sha256"]
                    checks[kind] = {"rows_read_back": back["rows"], "lines_read_back": back["lines"],
                                    "rows_ok": (back["rows"] == back["lines"] == args.rows == run["rows"]
                                                and back["files"] == expected_files),
                                    "bytes": back["bytes"]}
                if not args.keep:
                    shutil.rmtree(scratch / f"{kind}-{round_no}" / "out", ignore_errors=True)
        for kind in ("send", "send_split"):
            if kind in checks:
                checks[kind]["same_text_as_baseline"] = (digests[kind] == digests["baseline"]
                                                         if "baseline" in digests else None)
        if "baseline" in checks:
            checks["baseline"]["same_text_as_baseline"] = None
        result = summarize(args.rows, runs, checks, args.split_rows, args.repeat, built["duckdb_version"])
        if not args.quiet:
            print_report(result)
        line = json.dumps(result, default=str)
        print(line, flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2, default=str))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    if not result["rows_ok"]:
        return 1
    if args.strict and not all(result[k]["rss_pass"] for k in ("send", "send_split") if k in result):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
