"""Benchmark: courier -> feed -> domain ingest of a large customer CSV against DuckDB's own CSV load.

The script generates a customer file with DuckDB (``COPY (SELECT ... FROM range(N)) TO ...``), then
times, on fresh DuckDB database files:

* OURS: ``couriers.landing.find_files`` -> sha256 + audit.files lookup -> ``couriers.ingest.check_file`` +
  ``register_files`` -> ``feeds.typing.stage_feed`` (staging.<feed>: one read with typing + semantic standardization +
  rejects) -> ``domain.load.merge_staged`` (domain.<feed>), each phase timed on its own. The first load
  into the empty table is what the ratio measures; a second load of the same file then takes the full
  upsert path (every key compared with the table) and is reported beside it;
* BASELINE: ``CREATE TABLE t AS SELECT * FROM read_csv(file)``.

The two alternate for ``--repeat`` rounds and the best time of each counts. It reports rows/s, the ratio
ours/baseline (target >= 0.5), per-phase seconds and peak RSS (target < 2048 MB), for the whole process (both sides and the reload)
and for OURS alone in a child process. It is a benchmark, not a test: the exit code is 0 unless
something crashed; PASS/MISS is printed against each target.

    .venv/bin/python bench/ingest.py                 # 2,000,000 rows, best of 3
    .venv/bin/python bench/ingest.py --rows 200000 --repeat 1 --json /tmp/ingest.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from workflow_platform.catalog.models import (
    Catalog,
    Courier,
    Feed,
    FeedColumn,
    Location,
    StitchSettings,
)
from workflow_platform.ingest.audit import FileEntry, commit_rejects, earlier, ensure_manifest, record
from workflow_platform.ingest.couriers.check import check_file
from workflow_platform.ingest.couriers.landing import attach_location, find_files, sha256_of
from workflow_platform.ingest.domain.merge import merge_staged
from workflow_platform.ingest.feeds.typing import stage_feed
from workflow_platform.ingest.staging import register_files
from workflow_platform.settings import warehouse_memory_limit
from workflow_platform.sql import transaction

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)

FILE_DAY = dt.date(2024, 1, 15)
FILE_NAME = f"customers_{FILE_DAY:%Y%m%d}.csv"
FILE_PATTERN = "'customers_'yyyyMMdd'.csv'"
RATIO_TARGET = 0.5
RSS_TARGET_MB = 2048.0

# --------------------------------------------------------------------------- data


def _pick(values: list[str], salt: int) -> str:
    """SQL choosing one of `values` from the row hash salted with `salt` (deterministic per row).

    `hash(i, salt)` would correlate across salts; hashing `i * 1009 + salt` keeps the picks independent."""
    items = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"[{items}][1 + CAST(hash(i * 1009 + {salt}) % {len(values)} AS BIGINT)]"


FIRST_NAMES = ["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
               "William", "Barbara", "Richard", "Susan", "José", "Zoë", "Renée", "Chloé", "Ángel", "Noah", "Olivia",
               "Liam", "Emma", "Mia", "Lucas", "Sofia", "Ethan", "Ava", "Mateo", "Isabella"]
LAST_NAMES = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
              "Hernández", "Lopez", "Gonzalez", "Wilson", "Anderson", "O'Brien", "Thomas", "Taylor", "Moore",
              "Jackson", "Martin", "Lee", "Pérez", "Thompson", "White", "Harris", "Sánchez", "Clark", "Ramírez",
              "Lewis", "McDonald", "Van Dyke", "St. John"]
EMAIL_DOMAINS = ["gmail.com", "Yahoo.com", "outlook.com", "HOTMAIL.COM", "icloud.com", "aol.com", "comcast.net",
                 "proton.me"]
STREET_NAMES = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset",
                "Lincoln", "Jackson", "Church", "Highland", "River", "Spring", "Ridge", "Meadow", "Forest"]
STREET_SUFFIXES = ["Street", "Avenue", "Road", "Boulevard", "Drive", "Lane", "Court", "Place", "Terrace",
                   "Parkway", "St.", "Ave", "Circle", "Highway"]
DIRECTIONS = ["", "", "", "", "North ", "South ", "East ", "West ", "N. ", "S. "]
UNITS = ["", "", "", "", "", " Apt 4B", " Apartment 12", " Suite 300", " #7", ", Unit 2"]
CITIES = ["New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio", "San Diego",
          "Dallas", "San José", "Austin", "Jacksonville", "Fort Worth", "Columbus", "Charlotte", "St. Louis",
          "Seattle", "Denver", "Boston", "Coeur d'Alene"]
CITY_PREFIXES = ["", "", "", "", "", "North ", "East ", "West ", "South ", "Port ", "Lake ", "Mount "]
CITY_SUFFIXES = ["", "", "", "", "", " Heights", " Springs", " Falls", " Park", " Beach", " Hills", " City"]
STATES = ["NY", "CA", "IL", "TX", "AZ", "PA", "FL", "OH", "NC", "WA", "CO", "MA", "ga", "mi", "N.J.", "Va"]
SYLLABLES = ["ab", "bar", "ber", "cal", "dor", "el", "fen", "gar", "hal", "ing", "jor", "kel", "lan", "mor", "nes",
             "olt", "per", "quin", "ros", "sten", "tor", "ul", "van", "wick", "yar", "zel", "son", "ley", "ton", "ford"]


def generate_csv_sql(rows: int, path: Path) -> str:
    """A COPY statement writing `rows` customers with messy but realistic values to `path`.

    Every value derives from a per-row hash, so the same `rows` gives the same file. Surnames, first names
    and cities have realistic cardinality (tens of thousands, about two thousand, hundreds of distinct
    values), so the standardization cannot run once per tiny dictionary as it could on a 30-name list."""
    made_up = " || ".join(_pick(SYLLABLES, salt) for salt in (7, 8, 9))
    first = _pick(FIRST_NAMES, 1)
    first_name = f"""CASE hash(i * 1009 + 3) % 8
            WHEN 0 THEN {first} || '-' || {_pick(FIRST_NAMES, 4)}
            WHEN 1 THEN {first} || ' ' || chr(CAST(65 + hash(i * 1009 + 5) % 26 AS INTEGER)) || '.'
            ELSE {first} END"""
    last_name = f"""CASE WHEN hash(i * 1009 + 6) % 2 = 0 THEN {_pick(LAST_NAMES, 2)}
            ELSE upper(left({made_up}, 1)) || substr({made_up}, 2) END"""

    def ascii_name(column: str) -> str:
        out = f"strip_accents({column})"
        for mark in ("''", " ", ".", "-"):
            out = f"replace({out}, '{mark}', '')"
        return out

    local = f"{ascii_name('first_name')} || '.' || {ascii_name('last_name')} || CAST(i % 997 AS VARCHAR)"
    email_case = f"""CASE hash(i * 1009 + 10) % 4
            WHEN 0 THEN lower({local}) WHEN 1 THEN upper({local}) ELSE {local} END
            || '@' || {_pick(EMAIL_DOMAINS, 11)}"""
    email = f"""CASE hash(i * 1009 + 12) % 5
            WHEN 0 THEN '  ' || {email_case} || ' ' WHEN 1 THEN ' ' || {email_case} ELSE {email_case} END"""
    area = "CAST(200 + hash(i * 1009 + 20) % 800 AS VARCHAR)"
    exchange = "lpad(CAST(hash(i * 1009 + 21) % 1000 AS VARCHAR), 3, '0')"
    line = "lpad(CAST(hash(i * 1009 + 22) % 10000 AS VARCHAR), 4, '0')"
    phone = f"""CASE hash(i * 1009 + 23) % 7
            WHEN 0 THEN '(' || {area} || ') ' || {exchange} || '-' || {line}
            WHEN 1 THEN {area} || '-' || {exchange} || '-' || {line}
            WHEN 2 THEN '+1 ' || {area} || '.' || {exchange} || '.' || {line}
            WHEN 3 THEN {area} || {exchange} || {line}
            WHEN 4 THEN '1-' || {area} || '-' || {exchange} || '-' || {line}
            WHEN 5 THEN {area} || ' ' || {exchange} || ' ' || {line}
            ELSE CASE WHEN hash(i * 1009 + 24) % 10 = 0 THEN '' ELSE {area} || {exchange} || {line} END END"""
    address = (f"CAST(1 + hash(i * 1009 + 30) % 9999 AS VARCHAR) || ' ' || {_pick(DIRECTIONS, 31)} || "
               f"{_pick(STREET_NAMES, 32)} || ' ' || {_pick(STREET_SUFFIXES, 33)} || {_pick(UNITS, 34)}")
    city = f"{_pick(CITY_PREFIXES, 37)} || {_pick(CITIES, 35)} || {_pick(CITY_SUFFIXES, 38)}"
    zip5 = "lpad(CAST(1001 + hash(i * 1009 + 40) % 98998 AS VARCHAR), 5, '0')"
    plus4 = "lpad(CAST(hash(i * 1009 + 42) % 10000 AS VARCHAR), 4, '0')"
    zip_code = f"CASE WHEN hash(i * 1009 + 41) % 3 = 0 THEN {zip5} || '-' || {plus4} ELSE {zip5} END"
    birth = "strftime(DATE '1940-01-01' + CAST(hash(i * 1009 + 50) % 25000 AS INTEGER), '%Y-%m-%d')"
    # about 0.05% of birth dates are not dates (rejected rows) and 0.05% are empty (kept as NULL)
    birth_date = f"CASE hash(i * 1009 + 51) % 2000 WHEN 0 THEN 'unknown' WHEN 1 THEN '' ELSE {birth} END"
    updated_at = ("strftime(TIMESTAMP '2023-01-01' + to_seconds(CAST(hash(i * 1009 + 60) % 31536000 AS BIGINT)), "
                  "'%Y-%m-%d %H:%M:%S')")
    select = f"""
        SELECT 'C' || lpad(CAST(i + 1 AS VARCHAR), 10, '0') AS customer_id,
               first_name,
               last_name,
               {email} AS email,
               {phone} AS phone,
               {address} AS address,
               {city} AS city,
               {_pick(STATES, 36)} AS state,
               {zip_code} AS zip,
               {birth_date} AS birth_date,
               {updated_at} AS updated_at
        FROM (SELECT i, {first_name} AS first_name, {last_name} AS last_name FROM range({int(rows)}) t(i))
    """
    target = str(path).replace("'", "''")
    return f"COPY ({select}) TO '{target}' (FORMAT csv, HEADER true, DELIMITER ',')"


def generate_csv(rows: int, folder: Path) -> Path:
    """Write the customer file into `folder` with DuckDB and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAME
    conn = duckdb.connect()
    try:
        conn.execute(generate_csv_sql(rows, path))
    finally:
        conn.close()
    return path


# --------------------------------------------------------------------------- catalog


def build_catalog(landing: Path) -> Catalog:
    """A one-courier, one-feed catalog for the generated file in `landing`."""
    location = Location(name="bench_landing", url=str(landing))
    courier = Courier(name="bench_customers", location=location.name, pattern=FILE_PATTERN,
                      feed="bench_customers", load="upsert")
    feed = Feed(
        name="bench_customers",
        source="bench",
        last_updated="updated_at",
        columns=[
            FeedColumn(name="customer_id", type="string", tag=["pk", "fk-bench"]),
            FeedColumn(name="first_name", tag=["given-name"]),
            FeedColumn(name="last_name", tag=["surname"]),
            FeedColumn(name="email", tag=["email"]),
            FeedColumn(name="phone", tag=["phone"]),
            FeedColumn(name="address", tag=["address"]),
            FeedColumn(name="city", tag=["city"]),
            FeedColumn(name="state", tag=["state"]),
            FeedColumn(name="zip", tag=["postal"]),
            FeedColumn(name="birth_date", type="date", format="yyyy-MM-dd", tag=["birthdate"]),
            FeedColumn(name="updated_at", type="datetime", format="yyyy-MM-dd HH:mm:ss"),
        ],
    )
    return Catalog(tenant="bench", locations=[location], couriers=[courier], feeds=[feed], stitch=StitchSettings())


# --------------------------------------------------------------------------- runs


@dataclass
class OursRun:
    seconds: float
    phases: dict[str, float]
    rows_landed: int
    rows_staged: int
    rows_rejected: int
    rows_domain: int


@dataclass
class BaselineRun:
    seconds: float
    rows: int


@dataclass
class Figures:
    rows: int
    repeat: int
    duckdb_version: str
    threads: int
    ours_runs: list[OursRun] = field(default_factory=list)
    baseline_runs: list[BaselineRun] = field(default_factory=list)
    peak_rss_mb: float = 0.0
    ours_only_peak_rss_mb: float | None = None


def run_ours(catalog: Catalog, workdir: Path, upsert_reload: bool = True) -> OursRun:
    """courier -> feed -> domain through the real code on a fresh warehouse file; times each phase."""
    courier, feed = catalog.couriers[0], catalog.feeds[0]
    database = workdir / "ours.duckdb"
    _remove_database(database)
    phases: dict[str, float] = {}
    started = time.perf_counter()

    mark = time.perf_counter()
    search = find_files(courier, catalog.location(courier.location), [FILE_DAY])
    if len(search.files) != 1:
        raise RuntimeError(f"find_files found {len(search.files)} files for {FILE_PATTERN} on {FILE_DAY}")
    conn = duckdb.connect(str(database), config={"custom_user_agent": "workflow_platform", "memory_limit": warehouse_memory_limit()})
    phases["find+connect"] = time.perf_counter() - mark
    try:
        mark = time.perf_counter()  # as ingest/collect.py: hash each file, look it up in audit.files
        fs = attach_location(conn, catalog.location(courier.location))
        ensure_manifest(conn)
        entries = []
        for landed in search.files:
            digest = sha256_of(fs, landed)
            if earlier(conn, courier.name, [digest]):
                raise RuntimeError("the fresh warehouse already holds the file")
            entries.append(FileEntry(courier.name, feed.name, landed.relative, landed.size, digest, "loaded"))
        phases["courier (sha256 + manifest lookup)"] = time.perf_counter() - mark

        mark = time.perf_counter()
        for landed in search.files:
            check_file(conn, landed, feed, courier.file, feed.strict)
        with transaction(conn):
            register_files(conn, courier, search.files)
        phases["courier (check files)"] = time.perf_counter() - mark

        mark = time.perf_counter()
        staged = stage_feed(conn, feed, [courier], catalog.stitch)  # as ingest/step.py: no enclosing transaction
        phases["feed (read+type+standardize)"] = time.perf_counter() - mark

        mark = time.perf_counter()  # as ingest/step.py: merge, rejects and audit.files in one transaction
        load_time = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with transaction(conn):
            merged = merge_staged(conn, feed, courier.load, load_time)
            commit_rejects(conn, "bench")
            record(conn, entries, "bench")
        phases["merge"] = time.perf_counter() - mark
    finally:
        mark = time.perf_counter()
        conn.close()  # timed, as the baseline's close is: it writes what the load left in memory
        phases["close"] = time.perf_counter() - mark
    seconds = time.perf_counter() - started

    if upsert_reload:  # the same file again, not in the ratio: staging, then every key compared with the table
        conn = duckdb.connect(str(database), config={"custom_user_agent": "workflow_platform",
                                                     "memory_limit": warehouse_memory_limit()})
        try:
            mark = time.perf_counter()
            register_files(conn, courier, search.files)
            stage_feed(conn, feed, [courier], catalog.stitch)
            with transaction(conn):
                merge_staged(conn, feed, courier.load, load_time + dt.timedelta(seconds=1))
            conn.close()
            phases["reload as upsert (not in ratio)"] = time.perf_counter() - mark
        finally:
            conn.close()
    _remove_database(database)
    return OursRun(seconds=seconds, phases=phases, rows_landed=staged.rows_in, rows_staged=staged.rows_staged,
                   rows_rejected=staged.rows_rejected, rows_domain=merged.rows_after)


def run_baseline(csv: Path, workdir: Path) -> BaselineRun:
    """DuckDB's own CSV load of the same file into a fresh database file (connect to close)."""
    database = workdir / "baseline.duckdb"
    _remove_database(database)
    started = time.perf_counter()
    conn = duckdb.connect(str(database))
    try:
        path = str(csv).replace("'", "''")
        conn.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{path}')")
        rows = conn.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        conn.close()
    seconds = time.perf_counter() - started
    _remove_database(database)
    return BaselineRun(seconds=seconds, rows=rows)


def _remove_database(path: Path) -> None:
    for candidate in (path, path.with_name(path.name + ".wal")):
        candidate.unlink(missing_ok=True)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024.0


def ours_only_rss(landing: Path, rows: int, workdir: Path) -> float:
    """Peak RSS of one OURS first load alone (no upsert reload), measured in a child process running this script."""
    out = workdir / "ours-only.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--only", "ours", "--repeat", "1",
               "--rows", str(rows), "--landing", str(landing), "--json", str(out), "--quiet", "--no-reload"]
    subprocess.run(command, check=True)
    return float(json.loads(out.read_text())["peak_rss_mb"])


# --------------------------------------------------------------------------- report


def best(runs: list) -> float | None:
    return min(r.seconds for r in runs) if runs else None


def summary(figures: Figures) -> dict:
    """The reported figures (best of each), as a JSON-able dict."""
    ours_best = min(figures.ours_runs, key=lambda r: r.seconds) if figures.ours_runs else None
    base_s = best(figures.baseline_runs)
    ours_rps = figures.rows / ours_best.seconds if ours_best else None
    base_rps = figures.rows / base_s if base_s else None
    ratio = ours_rps / base_rps if ours_rps and base_rps else None
    return {
        "rows": figures.rows,
        "repeat": figures.repeat,
        "duckdb_version": figures.duckdb_version,
        "threads": figures.threads,
        "ours_seconds": ours_best.seconds if ours_best else None,
        "ours_rows_per_s": ours_rps,
        "ours_phases_seconds": ours_best.phases if ours_best else None,
        "ours_rows": ({"landed": ours_best.rows_landed, "staged": ours_best.rows_staged,
                       "rejected": ours_best.rows_rejected, "domain": ours_best.rows_domain} if ours_best else None),
        "duckdb_seconds": base_s,
        "duckdb_rows_per_s": base_rps,
        "ratio": ratio,
        "ratio_target": RATIO_TARGET,
        "ratio_pass": None if ratio is None else ratio >= RATIO_TARGET,
        "peak_rss_mb": figures.peak_rss_mb,
        "ours_only_peak_rss_mb": figures.ours_only_peak_rss_mb,
        "rss_target_mb": RSS_TARGET_MB,
        "rss_pass": figures.peak_rss_mb < RSS_TARGET_MB,
        "ours_only_rss_pass": (None if figures.ours_only_peak_rss_mb is None
                               else figures.ours_only_peak_rss_mb < RSS_TARGET_MB),
        "runs": {"ours": [asdict(r) for r in figures.ours_runs],
                 "duckdb": [asdict(r) for r in figures.baseline_runs]},
    }


def print_report(result: dict) -> None:
    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("PASS" if ok else "MISS")

    print(f"\ningest benchmark: {result['rows']:,} rows, best of {result['repeat']}, "
          f"DuckDB {result['duckdb_version']}, {result['threads']} threads")
    if result["ours_seconds"] is not None:
        print(f"  ours   : {result['ours_seconds']:8.2f} s  {result['ours_rows_per_s']:>12,.0f} rows/s")
        for name, seconds in result["ours_phases_seconds"].items():
            print(f"           {name:<18} {seconds:8.2f} s")
        counts = result["ours_rows"]
        print(f"           rows landed {counts['landed']:,}, staged {counts['staged']:,}, "
              f"rejected {counts['rejected']:,}, in domain {counts['domain']:,}")
    if result["duckdb_seconds"] is not None:
        print(f"  duckdb : {result['duckdb_seconds']:8.2f} s  {result['duckdb_rows_per_s']:>12,.0f} rows/s  "
              "(CREATE TABLE AS SELECT * FROM read_csv)")
    if result["ratio"] is not None:
        print(f"  ratio ours/duckdb rows/s: {result['ratio']:.3f}  (target >= {RATIO_TARGET})  "
              f"{verdict(result['ratio_pass'])}")
    print(f"  peak RSS, whole process (incl. upsert reload): {result['peak_rss_mb']:8.0f} MB  (target < {RSS_TARGET_MB:.0f})  "
          f"{verdict(result['rss_pass'])}")
    if result["ours_only_peak_rss_mb"] is not None:
        print(f"  peak RSS, ours first load alone          : {result['ours_only_peak_rss_mb']:8.0f} MB  "
              f"(target < {RSS_TARGET_MB:.0f})  {verdict(result['ours_only_rss_pass'])}")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in the generated CSV (default 2,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="alternating rounds; the best of each counts (default 3)")
    parser.add_argument("--keep", type=Path, help="write the CSV into this folder and keep it (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    parser.add_argument("--only", choices=["both", "ours", "duckdb"], default="both", help="which side to run")
    parser.add_argument("--no-child", action="store_true", help="skip the ours-alone peak RSS child process")
    parser.add_argument("--no-reload", action="store_true", help="skip the second load through the upsert path")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--landing", type=Path, help=argparse.SUPPRESS)  # internal: reuse a generated file
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1:
        parser.error("--rows and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = (lambda *a, **k: None) if args.quiet else (lambda *a, **k: print(*a, **k, flush=True))
    scratch = Path(tempfile.mkdtemp(prefix="wp-bench-ingest-"))
    try:
        if args.landing:
            landing = args.landing
            csv = landing / FILE_NAME
        else:
            landing = args.keep.resolve() if args.keep else scratch / "landing"
            mark = time.perf_counter()
            csv = generate_csv(args.rows, landing)
            log(f"generated {csv} ({args.rows:,} rows, {csv.stat().st_size / 2**20:,.0f} MB) "
                f"in {time.perf_counter() - mark:.1f} s")
        catalog = build_catalog(landing)
        threads = duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]
        figures = Figures(rows=args.rows, repeat=args.repeat, duckdb_version=duckdb.__version__, threads=threads)
        for round_no in range(1, args.repeat + 1):
            if args.only in ("both", "duckdb"):
                run = run_baseline(csv, scratch)
                figures.baseline_runs.append(run)
                log(f"round {round_no}: duckdb {run.seconds:.2f} s")
            if args.only in ("both", "ours"):
                run = run_ours(catalog, scratch, upsert_reload=not args.no_reload)
                figures.ours_runs.append(run)
                phases = ", ".join(f"{k} {v:.2f}" for k, v in run.phases.items())
                log(f"round {round_no}: ours   {run.seconds:.2f} s ({phases})")
        figures.peak_rss_mb = peak_rss_mb()
        if args.only == "both" and not args.no_child:
            log("measuring peak RSS of ours alone in a child process ...")
            figures.ours_only_peak_rss_mb = ours_only_rss(landing, args.rows, scratch)
        elif args.only == "ours":
            figures.ours_only_peak_rss_mb = figures.peak_rss_mb
        result = summary(figures)
        if not args.quiet:
            print_report(result)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2, default=str))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
