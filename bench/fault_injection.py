"""Fault injection, long version: SIGKILL the run worker of a two-courier group run (loads, Stitch, database
builds) at seeded random moments, many times, with bigger files than CI uses.

Each trial lands a new day of files (plus an earlier file delivered again under a new name), kills the run
partway, checks that every table is as before the run or as the completed re-run leaves it and that each domain
table agrees with the rows audit.files says were loaded, then re-runs to completion. At the end every source row
must be in its domain table exactly once. The harness is workflow_platform_tests/fault_injection.py (CI runs 20
kills through test_fault_injection.py).

    .venv/bin/python -m bench.fault_injection --kills 100 --rows 2000    # from the repository root
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

try:  # the benchmark's allowed roots: it is its own operator (bench_env.py)
    import bench_env  # run as a script: bench/ is on sys.path
except ModuleNotFoundError:
    from bench import bench_env  # noqa: F401  (imported by the tests as bench.<module>)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100, help="trials that kill the run before it ends")
    parser.add_argument("--rows", type=int, default=2000, help="rows per landed file (5 files a day)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this path")
    args = parser.parse_args()

    from workflow_platform_tests.fault_injection import Harness

    with tempfile.TemporaryDirectory(prefix="wp-faults-") as scratch:
        harness = Harness(Path(scratch), rows_per_file=args.rows, seed=args.seed)
        try:
            report = harness.run(args.kills)
        finally:
            harness.close()
    summary = {**report.summary(), "rows_per_file": args.rows, "seed": args.seed}
    clean = (summary["lost"] == 0 and summary["duplicated"] == 0 and not summary["files_loaded_twice"]
             and summary["torn_tables"] == 0 and summary["domain_manifest_disagreements"] == 0)
    summary["pass"] = clean and summary["killed"] >= args.kills
    print(json.dumps(summary, indent=2))
    print(f"\nfault injection: {summary['killed']} kills in {summary['trials']} trials, {summary['source_rows']:,} "
          f"source rows: {summary['lost']} lost, {summary['duplicated']} duplicated, {summary['torn_tables']} torn "
          f"tables -> {'PASS' if summary['pass'] else 'MISS'}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
